"""
Inference Endpoints handler of a UMT model repository (multimodal NER: a post and its image -> entities).

Request:  {"inputs": {"text": "Kevin Durant enters Oracle Arena", "image": "<base64, data: URI or http(s) URL>"}}
          ("image" may be absent or null; "inputs" may also be the text alone)
Response: [{"entity_group": "PER", "score": 0.97, "word": "Kevin Durant", "start": 0, "end": 12}, ...]
          or {"error": "..."} for a request that cannot be served (no text, bad base64, not an image, too big).

The model, its processor and its pipeline come from this repository's remote code (`trust_remote_code=True`); this
file needs only transformers, torch and Pillow (and `timm`, listed in requirements.txt, for the model's backbone).
"""

import base64
import binascii
import io
import urllib.error
import urllib.request
from typing import Any

import PIL.Image
from transformers import pipeline

MAX_TEXT_CHARACTERS = 10_000
MAX_IMAGE_BYTES = 10 * 2**20
MAX_IMAGE_PIXELS = 50_000_000
URL_TIMEOUT_S = 10.0


class PayloadError(ValueError):
    """A request this handler cannot serve; the message says what was wrong and what to send instead."""


class EndpointHandler:
    """Loads the repository's multimodal-NER pipeline once; each call tags one post."""

    def __init__(self, path: str = ""):
        self.pipeline = pipeline(model=path or ".", trust_remote_code=True)

    def __call__(self, data: dict[str, Any]) -> list[dict[str, Any]] | dict[str, str]:
        try:
            text, image = parse_payload(data)
        except PayloadError as error:
            return {"error": str(error)}
        return self.pipeline({"text": text, "image": image})


def parse_payload(data: Any) -> tuple[str, PIL.Image.Image | None]:
    """The post's text and decoded image (or None) from a request body; `PayloadError` when it is unusable."""
    if not isinstance(data, dict) or "inputs" not in data:
        raise PayloadError('the request body must be a JSON object {"inputs": {"text": ..., "image": ...}}')
    inputs = data["inputs"]
    if isinstance(inputs, str):
        inputs = {"text": inputs}
    if not isinstance(inputs, dict):
        raise PayloadError(f'"inputs" must be the text or an object {{"text", "image"}}, got {type(inputs).__name__}')
    text = inputs.get("text")
    if not isinstance(text, str):
        raise PayloadError('"inputs" needs a "text" string: the post to tag')
    if len(text) > MAX_TEXT_CHARACTERS:
        raise PayloadError(f"the text has {len(text)} characters, over the limit of {MAX_TEXT_CHARACTERS}: send one post")
    image = inputs.get("image")
    if image is None or image == "":
        return text, None
    if not isinstance(image, str):
        raise PayloadError('"image" must be a base64 string, a data: URI or an http(s) URL, or left out')
    return text, decode_image(read_image_bytes(image))


def read_image_bytes(image: str) -> bytes:
    """The bytes of an image given as an http(s) URL, a data: URI or base64."""
    if image.startswith(("http://", "https://")):
        return download(image)
    if image.startswith("data:"):
        header, _, image = image.partition(",")
        if not header.endswith(";base64"):
            raise PayloadError("a data: URI image must be base64 encoded (data:image/jpeg;base64,...)")
    if len(image) * 3 // 4 > MAX_IMAGE_BYTES:
        raise PayloadError(f"the image is over {MAX_IMAGE_BYTES // 2**20} MiB: send a smaller file")
    try:
        return base64.b64decode(image, validate=True)
    except (binascii.Error, ValueError) as error:
        raise PayloadError(f'"image" is neither an http(s) URL nor valid base64 ({error})') from error


def download(url: str) -> bytes:
    """Fetch an image URL, at most `MAX_IMAGE_BYTES`, within `URL_TIMEOUT_S`."""
    try:
        with urllib.request.urlopen(url, timeout=URL_TIMEOUT_S) as response:
            content = response.read(MAX_IMAGE_BYTES + 1)
    except (urllib.error.URLError, OSError, ValueError) as error:
        raise PayloadError(f"could not download the image from {url}: {error}") from error
    if len(content) > MAX_IMAGE_BYTES:
        raise PayloadError(f"the image at {url} is over {MAX_IMAGE_BYTES // 2**20} MiB: send a smaller file")
    return content


def decode_image(content: bytes) -> PIL.Image.Image:
    """Decode image bytes, refusing non-images and images over `MAX_IMAGE_PIXELS` before decoding their pixels."""
    try:
        image = PIL.Image.open(io.BytesIO(content))
        width, height = image.size
        if width * height > MAX_IMAGE_PIXELS:
            raise PayloadError(
                f"the image is {width}x{height} pixels, over the limit of {MAX_IMAGE_PIXELS:,}: send a smaller one"
            )
        image.load()
    except PayloadError:
        raise
    except PIL.Image.DecompressionBombError as error:
        raise PayloadError(f"the image has too many pixels ({error}): send a smaller one") from error
    except Exception as error:  # PIL raises many types for bad data (UnidentifiedImageError, OSError, SyntaxError...)
        raise PayloadError(f'"image" is not a readable image ({type(error).__name__}: {error})') from error
    return image
