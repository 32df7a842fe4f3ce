"""The demo's offline stand-ins: a synthetic emotional speech corpus and tiny, really pretrained models
in the released formats (vq-wav2vec k-means, Speech-BERT, RoBERTa, GPT-2 BPE). Not used by the plugin."""
