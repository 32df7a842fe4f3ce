"""Installs the multimodal speech emotion recognition plugin for fairseq (``pip install -e .``)."""
from setuptools import find_packages, setup

setup(
    name="ssl-multimodal-emotion",
    version="0.2.0",
    description=(
        "Jointly fine-tuned Speech-BERT + RoBERTa for multimodal speech emotion recognition, "
        "as a fairseq plugin"
    ),
    python_requires=">=3.10",
    packages=find_packages(include=["emotion_*", "emotion_*.*"]),
    package_data={"emotion_fast": ["README.md"], "emotion_serve": ["static/*"]},
    # Versions are pinned in constraints.txt; scripts/setup_env.sh installs them.
    install_requires=[
        "torch==2.13.0",
        "fairseq-fixed==0.12.3.1",
        "soundfile",
        "soxr",
        "av",
        "numpy<2",
        "scikit-learn",
        "scipy",
        "tqdm",
        "matplotlib",
        "silero-vad",
        "onnxruntime",
        "fastapi",
        "uvicorn",
        "python-multipart",
    ],
    entry_points={
        "console_scripts": [
            "emotion-prepare = emotion_data.cli:main",
            "emotion-predict = emotion_inference.cli:main",
            "emotion-score = emotion_eval.scoring:main",
            "emotion-compare = emotion_eval.compare:main",
            "emotion-experiment = emotion_reproduce.cli:run_experiment_main",
            "emotion-tables = emotion_reproduce.cli:make_tables_main",
            "emotion-plot-run = emotion_reproduce.cli:plot_run_main",
            "emotion-demo-assets = emotion_demo.cli:main",
            "emotion-benchmark = emotion_bench.benchmark:main",
            "emotion-serve = emotion_serve.cli:main",
            "emotion-modality-means = emotion_inference.modality_means:main",
        ],
    },
)
