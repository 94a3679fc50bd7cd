"""umt-predict: tag posts with a trained UMT model and print their entities as JSON lines.

One post from the command line (`--text`, optional `--image`), or a file of posts (`--posts_file`): a `.jsonl` file
with one `{"text": ..., "image": "path or null", "id": ...}` per line (image paths relative to the file's folder), or
any other file with one post per line (no images). Each post prints one line:
`{"id": ..., "text": ..., "entities": [{"entity_group", "score", "word", "start", "end"}, ...]}`, offsets in
characters of `text`, `score` the mean CRF marginal probability of the entity's predicted tags (see
`UMTMultimodalNERPipeline`). An empty post gives no entity; a post over the model's length limit is tagged in windows.

    umt-predict --model runs/umt-2017 --text "Kevin Durant enters Oracle Arena" --image photo.jpg
    umt-predict --model runs/umt-2017 --posts_file posts.jsonl > entities.jsonl
"""

import json
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from transformers import HfArgumentParser, pipeline

import modeling_umt  # noqa: F401  (registers UMT with the Auto classes)
from processing_umt.pipeline_umt import MULTIMODAL_NER_TASK, UMTMultimodalNERPipeline


@dataclass
class PredictArguments:
    model: str = field(metadata={"help": "A umt-train output folder, a umt-export folder, or a Hub model id."})
    text: str | None = field(default=None, metadata={"help": "The post to tag (raw text)."})
    image: str | None = field(default=None, metadata={"help": "Image file of the --text post (optional)."})
    posts_file: str | None = field(
        default=None,
        metadata={"help": "File of posts: .jsonl lines {text, image, id}, or any other file with one post per line."},
    )
    device: str | None = field(default=None, metadata={"help": "cpu, cuda, cuda:1... Default: the first GPU if any."})


@dataclass
class Post:
    id: str
    text: str
    image: str | None = None


def read_posts(path: str | Path) -> Iterator[Post]:
    """Posts of a `.jsonl` file (`text`, optional `image` relative to the file's folder, optional `id`) or of a text
    file (one post per line), read as they are consumed. Ids default to line numbers, from 1."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no posts file {path}")
    return _posts_of(path)


def _posts_of(path: Path) -> Iterator[Post]:
    with path.open(encoding="utf-8") as lines:
        for number, line in enumerate(lines, start=1):
            line = line.rstrip("\n")
            if path.suffix != ".jsonl":
                yield Post(str(number), line)
                continue
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as error:
                raise ValueError(f"{path}, line {number}: not JSON ({error}); each line is {{\"text\": ...}}") from error
            if not isinstance(record, dict) or not isinstance(record.get("text"), str):
                raise ValueError(f'{path}, line {number}: each line needs a "text" string, got {line[:100]!r}')
            image = record.get("image")
            yield Post(str(record.get("id", number)), record["text"], str(path.parent / image) if image else None)


def load_pipeline(model: str, device: str | None = None) -> UMTMultimodalNERPipeline:
    """The multimodal-NER pipeline of a UMT folder or Hub id, with this project's code (no remote code needed)."""
    return pipeline(MULTIMODAL_NER_TASK, model=model, pipeline_class=UMTMultimodalNERPipeline, device=device)


def predict(argv: list[str] | None = None) -> int:
    """Tag the posts the arguments give, print one JSON line per post; returns the number of posts."""
    (args,) = HfArgumentParser(PredictArguments).parse_args_into_dataclasses(argv)
    if (args.text is None) == (args.posts_file is None):
        raise ValueError("give either --text (with an optional --image) or --posts_file")
    if args.image is not None and args.text is None:
        raise ValueError("--image goes with --text; in a posts file each post names its own image")
    if args.image is not None and not Path(args.image).is_file():
        raise FileNotFoundError(f"no image file {args.image}")
    posts = read_posts(args.posts_file) if args.posts_file else iter([Post("1", args.text, args.image)])

    started = time.perf_counter()
    print(f"loading {args.model}", file=sys.stderr)
    ner = load_pipeline(args.model, args.device)
    count = 0
    for count, post in enumerate(posts, start=1):
        entities = ner({"text": post.text, "image": post.image})
        print(json.dumps({"id": post.id, "text": post.text, "entities": entities}, ensure_ascii=False), flush=True)
    print(f"tagged {count} posts in {time.perf_counter() - started:.1f} s", file=sys.stderr)
    return count


def main(argv: list[str] | None = None) -> None:
    try:
        predict(argv)
    except (FileNotFoundError, ValueError) as error:
        raise SystemExit(f"umt-predict: {error}") from error


if __name__ == "__main__":
    main()
