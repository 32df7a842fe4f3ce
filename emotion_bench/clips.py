"""Video clips with an audio track, as MELD distributes its utterances: mp4, AAC audio, a small video track.

>>> write_clip("dia0_utt0.mp4", wav, 48000)  # doctest: +SKIP
"""
from pathlib import Path

import av
import numpy as np

VIDEO_SIZE, VIDEO_RATE = 32, 10  # a tiny picture: the audio track is what is read back


def write_clip(path, wav, sample_rate, channels=2, video=True, audio=True):
    """Write ``wav`` ((samples,) floats in [-1, 1]) as the AAC track of an mp4 clip, on ``channels`` channels.

    ``video`` adds a gray mpeg4 video track of the same length; ``audio=False`` leaves the audio
    track out (a clip without sound). Returns ``path``.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    layout = {1: "mono", 2: "stereo"}[channels]
    planar = np.ascontiguousarray(np.stack([np.asarray(wav, dtype=np.float32)] * channels))  # (channels, samples)
    seconds = planar.shape[1] / sample_rate
    with av.open(str(path), "w") as container:  # streams are set up before anything is written
        picture = container.add_stream("mpeg4", rate=VIDEO_RATE, width=VIDEO_SIZE, height=VIDEO_SIZE,
                                       pix_fmt="yuv420p") if video else None
        sound = container.add_stream("aac", rate=sample_rate, layout=layout) if audio else None
        for _ in range(int(seconds * VIDEO_RATE) if picture else 0):
            gray = np.full((VIDEO_SIZE, VIDEO_SIZE, 3), 128, np.uint8)
            container.mux(picture.encode(av.VideoFrame.from_ndarray(gray, format="rgb24")))
        for start in range(0, planar.shape[1] if sound else 0, 1024):
            frame = av.AudioFrame.from_ndarray(planar[:, start:start + 1024].copy(), format="fltp", layout=layout)
            frame.sample_rate, frame.pts = sample_rate, start
            container.mux(sound.encode(frame))
        for stream in (picture, sound):
            if stream:
                container.mux(stream.encode(None))  # flush the encoder
    return path
