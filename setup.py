"""Installs the multimodal speech emotion recognition plugin for fairseq (``pip install -e .``)."""
from setuptools import find_packages, setup

setup(
    name="ssl-multimodal-emotion",
    version="0.1.0",
    description=(
        "Jointly fine-tuned Speech-BERT + RoBERTa for multimodal speech emotion recognition, "
        "as a fairseq plugin"
    ),
    python_requires=">=3.10",
    packages=find_packages(include=["emotion_*"]),
    # Versions are pinned in constraints.txt; scripts/setup_env.sh installs them.
    install_requires=[
        "torch==2.13.0",
        "fairseq-fixed==0.12.3.1",
        "soundfile",
        "soxr",
        "numpy<2",
        "scikit-learn",
        "tqdm",
        "matplotlib",
    ],
)
