"""The plot of a timeline: each value (class probability or score) over time, speech segments shaded."""
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from emotion_core.files import atomic_output  # noqa: E402


def plot_timeline(header, rows, path, space):
    """Write a PNG of ``rows`` (timeline rows with ``prediction``) to ``path`` atomically."""
    fig, ax = plt.subplots(figsize=(max(8.0, min(40.0, header["duration_s"] / 15)), 3.6))
    for row in rows:
        ax.axvspan(row["start"], row["end"], color="0.92", zorder=0)
    predicted = [r for r in rows if r["prediction"] is not None]
    for name in space.value_names():
        xs, ys = [], []
        for row in predicted:  # a flat step per segment, a gap (None) between segments
            value = space.values(row["prediction"])[name]
            xs += [row["start"], row["end"], None]
            ys += [value, value, None]
        ax.plot(xs, ys, label=name, linewidth=1.8)
    ax.set_xlim(0, header["duration_s"])
    if space.has_probabilities:
        ax.set_ylim(0, 1)
    ax.set_xlabel("time (s)")
    ax.set_ylabel("probability" if space.has_probabilities else "score")
    ax.set_title(f"{header['audio']}: {len(predicted)} of {len(rows)} segments predicted ({header['vad']} VAD)",
                 fontsize=9)
    ax.legend(loc="upper right", fontsize=8, ncol=min(6, len(space.value_names())))
    fig.tight_layout()
    with atomic_output(path, "wb") as f:
        fig.savefig(f, format="png", dpi=110)
    plt.close(fig)
