"""umt-demo: a Gradio app to try a UMT model, as a Hugging Face Space would run it (`pip install .[demo]`).

Enter a post and upload an image (or none): the entities are highlighted in the text. For the entity chosen in the
list, the image shows where the model looked (the entity words' cross-modal attention over the 7x7 grid of image
blocks, drawn on the picture) and the text gives its visual-gate value.

    umt-demo --model runs/umt-2017                  # a umt-train or umt-export folder, or a Hub id
    python -m hub_scripts.demo --model my-org/umt-twitter2017 --port 7860

Analytics are off (GRADIO_ANALYTICS_ENABLED=False) and the page loads no web fonts: it works offline.
"""

import argparse
import os
from typing import Any

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

import gradio as gr  # noqa: E402
import numpy as np  # noqa: E402
import PIL.Image  # noqa: E402
import PIL.ImageDraw  # noqa: E402
from transformers import Pipeline  # noqa: E402

from .predict import load_pipeline  # noqa: E402

EXAMPLE_POST = "Kevin Durant enters Oracle Arena with Stephen Curry before the Warriors game #NBA"
#: Share of the picture's colour replaced by red in the most attended block (none in the least attended one).
HEATMAP_OPACITY = 0.6
THEME = gr.themes.Default(font=["ui-sans-serif", "system-ui", "sans-serif"], font_mono=["ui-monospace", "monospace"])


def entity_choices(entities: list[dict]) -> list[str]:
    """One unique label per entity, in text order: `1. Kevin Durant (PER)`."""
    return [f"{index}. {entity['word']} ({entity['entity_group']})" for index, entity in enumerate(entities, start=1)]


def attention_overlay(image: PIL.Image.Image, attention: list[list[float]]) -> PIL.Image.Image:
    """The image with the attention grid drawn on it: each block reddened from none (least attended block) to
    `HEATMAP_OPACITY` (most attended block), and the grid's lines. The model sees the image resized to a square, so
    the grid divides the picture into equal rows and columns."""
    grid = np.asarray(attention, dtype=np.float64)
    spread = grid.max() - grid.min()
    relative = (grid - grid.min()) / spread if spread > 0 else np.zeros_like(grid)
    picture = image.convert("RGB")
    mask = PIL.Image.fromarray(np.uint8(255 * HEATMAP_OPACITY * relative), mode="L").resize(
        picture.size, PIL.Image.Resampling.NEAREST
    )
    overlay = PIL.Image.composite(PIL.Image.new("RGB", picture.size, (255, 0, 0)), picture, mask)
    draw = PIL.ImageDraw.Draw(overlay)
    rows, columns = grid.shape
    width, height = picture.size
    for column in range(1, columns):
        draw.line([(column * width / columns, 0), (column * width / columns, height)], fill=(255, 255, 255), width=1)
    for row in range(1, rows):
        draw.line([(0, row * height / rows), (width, row * height / rows)], fill=(255, 255, 255), width=1)
    return overlay


def describe_evidence(entity: dict) -> str:
    """Markdown: the entity's visual-gate value and its most attended block."""
    name = f"**{entity['word']}** ({entity['entity_group']}, score {entity['score']:.2f})"
    if entity["image_attention"] is None:
        return f"{name}: the post has no usable image, so it was tagged from its text alone."
    grid = np.asarray(entity["image_attention"])
    row, column = np.unravel_index(grid.argmax(), grid.shape)
    gate = "no visual gate in this model" if entity["visual_gate"] is None else f"{entity['visual_gate']:.3f}"
    return (
        f"{name}\n\n- visual gate: {gate} (0: the image is shut out of this word's representation, 1: fully let in)\n"
        f"- most attended block: row {row + 1}, column {column + 1} of {grid.shape[0]}x{grid.shape[1]}, attention "
        f"{grid.max():.4f} (uniform: {1 / grid.size:.4f})"
    )


def show_entity(choice: str | None, tagged: dict[str, Any]) -> tuple[Any, str]:
    """The overlay image and the description of the chosen entity of the last tagged post (`entities`, `image`)."""
    entities, image = tagged.get("entities", []), tagged.get("image")
    if not entities or choice not in entity_choices(entities):
        return None, "Tag a post, then choose one of its entities."
    entity = entities[entity_choices(entities).index(choice)]
    overlay = None
    if image is not None and entity["image_attention"] is not None:
        overlay = attention_overlay(image, entity["image_attention"])
    return overlay, describe_evidence(entity)


def build_demo(ner: Pipeline) -> gr.Blocks:
    """The Gradio app around a multimodal-NER pipeline (`UMTMultimodalNERPipeline`)."""

    def tag(text: str, image: PIL.Image.Image | None):
        entities = ner({"text": text or "", "image": image}, return_visual_evidence=True)
        highlighted = {
            "text": text or "",
            "entities": [{"entity": e["entity_group"], "start": e["start"], "end": e["end"]} for e in entities],
        }
        tagged = {"entities": entities, "image": image}
        choices = entity_choices(entities)
        chosen = choices[0] if choices else None
        overlay, description = show_entity(chosen, tagged)
        if not entities:
            description = "No entity found in this post."
        return highlighted, gr.Dropdown(choices=choices, value=chosen), tagged, overlay, description

    with gr.Blocks(title="UMT: multimodal named entity recognition", analytics_enabled=False) as demo:
        gr.Markdown(
            "# UMT: named entities of a post and its image\n"
            "Type a post, add its picture (optional) and press **Tag**. Choose an entity to see where on the image its "
            "words looked (clear: the least attended block, red: the most attended one; white lines: the 7x7 grid of "
            "image blocks the model reads) and how much of the image its visual gate let in."
        )
        tagged_state = gr.State({})  # the last tagged post's entities and image
        with gr.Row():
            with gr.Column():
                text = gr.Textbox(label="Post", value=EXAMPLE_POST, lines=3, elem_id="post-text")
                image = gr.Image(label="Image", type="pil", sources=["upload"], elem_id="post-image")
                tag_button = gr.Button("Tag", variant="primary", elem_id="tag-button")
            with gr.Column():
                highlighted = gr.HighlightedText(label="Entities", show_legend=True, elem_id="entities")
                choice = gr.Dropdown(label="Entity", choices=[], elem_id="entity-choice")
                evidence = gr.Markdown(elem_id="evidence")
                overlay = gr.Image(label="Where the entity looked", type="pil", interactive=False, elem_id="attention")
        tag_button.click(tag, [text, image], [highlighted, choice, tagged_state, overlay, evidence])
        choice.input(show_entity, [choice, tagged_state], [overlay, evidence])
    return demo


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="umt-demo", description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", required=True, help="a umt-train or umt-export folder, or a Hub model id")
    parser.add_argument("--device", help="cpu, cuda... Default: the first GPU if any")
    parser.add_argument("--host", default="127.0.0.1", help="address to serve on (0.0.0.0 in a Space or container)")
    parser.add_argument("--port", type=int, default=7860)
    return parser.parse_args(argv)


def launch(demo: gr.Blocks, host: str = "127.0.0.1", port: int = 7860, block: bool = True) -> str:
    """Serve the app (no web fonts, no server-side rendering, no footer links); returns its local URL. With
    `block=False` it returns at once and serves in a thread until `demo.close()`."""
    _, url, _ = demo.launch(
        server_name=host, server_port=port, theme=THEME, ssr_mode=False, footer_links=[], prevent_thread_lock=not block
    )
    return url


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    launch(build_demo(load_pipeline(args.model, args.device)), args.host, args.port)


if __name__ == "__main__":
    main()
