"""Numbers fixed by the released models, shared by data preparation, training and inference."""
SAMPLE_RATE = 16000  # Hz: what vq-wav2vec (and every wav2vec-family encoder) reads
FRAME_SAMPLES = 160  # vq-wav2vec's frame hop at 16 kHz (10 ms): one speech token per frame
MAX_SPEECH_FRAMES = 2046  # speech tokens kept per utterance: <s> + 2046 + </s> = Speech-BERT's 2048 positions
MAX_SPEECH_SAMPLES = MAX_SPEECH_FRAMES * FRAME_SAMPLES  # the same 20.46 s as 16 kHz samples (327,360): waveform encoders
SILENCE_PEAK = 1e-4  # a peak amplitude below this counts as silence (16-bit LSB is 3e-5)
