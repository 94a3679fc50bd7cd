"""Image processor for UMT: the input of the frozen ResNet-152 (RGB, 224x224, ImageNet mean and std).

This file is loadable as remote code: it imports only transformers, PIL and numpy.
"""

import os

import numpy as np
import PIL.Image
import PIL.ImageOps
from transformers.image_processing_backends import PilBackend
from transformers.image_utils import IMAGENET_DEFAULT_MEAN, IMAGENET_DEFAULT_STD, ChannelDimension, PILImageResampling

ImageSource = str | os.PathLike | PIL.Image.Image
"""An image as a file path or an already opened PIL image."""

_SIXTEEN_BIT_MODES = ("I;16", "I;16L", "I;16B", "I;16N", "I")


class ImageLoadError(OSError):
    """An image file that is missing or cannot be decoded. `reason` is `"missing"` or `"unreadable"`."""

    def __init__(self, path: str, reason: str, detail: str):
        super().__init__(f"image {path} is {reason}: {detail}")
        self.path = path
        self.reason = reason
        self.detail = detail


def open_image(path: str | os.PathLike, draft_size: tuple[int, int] | None = None) -> PIL.Image.Image:
    """
    Open and fully decode an image file: first frame of an animated file, upright according to its EXIF orientation.

    Decoding the whole file here (not lazily) is what finds truncated or corrupt files before they reach a batch.
    Raises `ImageLoadError` for a missing file, and for any file PIL cannot decode (truncated JPEG, wrong format,
    a decompression bomb over PIL's `Image.MAX_IMAGE_PIXELS`...). With `draft_size`, a JPEG is decoded at the smallest
    scale (down to 1/8) that keeps it at least that size: much faster, still reads the whole file (to check files).
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise ImageLoadError(path, "missing", "no such file")
    try:
        with PIL.Image.open(path) as image:
            if draft_size is not None:
                image.draft(None, draft_size)
            # `exif_transpose` loads the current (first) frame and returns a detached, upright copy of it.
            return PIL.ImageOps.exif_transpose(image)
    except Exception as error:  # PIL raises many types for bad files (OSError, SyntaxError, ValueError, ...)
        raise ImageLoadError(path, "unreadable", f"{type(error).__name__}: {error}") from error


def to_rgb(image: PIL.Image.Image) -> PIL.Image.Image:
    """
    Convert any PIL mode to RGB: transparency (RGBA, LA, palette or grayscale with a transparent colour) is composited
    onto white, 16-bit grayscale is scaled to 8 bits (not clipped), CMYK, palette and grayscale are converted.
    """
    if image.mode in _SIXTEEN_BIT_MODES:
        values = np.asarray(image, dtype=np.float64)
        image = PIL.Image.fromarray(np.clip(values / 257.0, 0, 255).astype(np.uint8), mode="L")
    if "A" in image.getbands() or "transparency" in image.info:
        rgba = image.convert("RGBA")
        white = PIL.Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return PIL.Image.alpha_composite(white, rgba).convert("RGB")
    return image.convert("RGB")


class UMTImageProcessor(PilBackend):
    r"""
    Image processor for the UMT visual backbone (ResNet-152, ImageNet weights): RGB, resized to 224x224 (aspect ratio
    not kept, as in the paper), rescaled to [0, 1] and normalised with the ImageNet mean and std. Gives
    `pixel_values` of shape `(batch_size, 3, 224, 224)`.

    Accepts PIL images, arrays, tensors, and file paths. PIL images of any mode are handled (RGBA, LA, palette,
    grayscale, 16-bit grayscale, CMYK), turned upright from their EXIF orientation, and the first frame of an animated
    file is used. PIL images are resized in PIL before the conversion to floats, so a huge image costs no more memory
    than its decoded bytes. A path that is missing or unreadable raises `ImageLoadError`; `UMTProcessor` turns that
    into a post without image instead.
    """

    resample = PILImageResampling.BILINEAR
    image_mean = IMAGENET_DEFAULT_MEAN
    image_std = IMAGENET_DEFAULT_STD
    size = {"height": 224, "width": 224}
    do_resize = True
    do_rescale = True
    do_normalize = True
    do_convert_rgb = True

    def fetch_images(self, image_url_or_urls):
        """Open file paths with `open_image` (upright, first frame, fully decoded); pass other inputs through."""
        if isinstance(image_url_or_urls, (list, tuple)):
            return [self.fetch_images(item) for item in image_url_or_urls]
        if isinstance(image_url_or_urls, (str, os.PathLike)):
            return open_image(image_url_or_urls)
        return super().fetch_images(image_url_or_urls)

    def process_image(self, image, do_convert_rgb=None, input_data_format=None, **kwargs) -> np.ndarray:
        """Bring one image to a channels-first uint8/float array; PIL images are made upright, RGB and resized here."""
        if isinstance(image, PIL.Image.Image):
            image = PIL.ImageOps.exif_transpose(image)
            if do_convert_rgb:
                image = to_rgb(image)
            size = kwargs.get("size")
            if kwargs.get("do_resize") and size is not None and size.height and size.width:
                image = image.resize((size.width, size.height), resample=kwargs.get("resample") or self.resample)
            return super().process_image(image, do_convert_rgb=False, input_data_format=ChannelDimension.LAST)
        return super().process_image(image, do_convert_rgb=do_convert_rgb, input_data_format=input_data_format)


__all__ = ["ImageLoadError", "ImageSource", "UMTImageProcessor", "open_image", "to_rgb"]
