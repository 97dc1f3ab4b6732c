"""A training run's curves, as :func:`course_utils.train.fit` records them and
:func:`course_utils.viz.plot_history` draws them.

It lives apart from the training loops so that the figures can take one without depending
on the code that trains (``train.History`` is this class).
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["History"]


@dataclass
class History:
    """Per-epoch curves: ``history["train_loss"]``, ``history["val_accuracy"]``, ...

    A detector's history has one point per window of ``step`` iterations (``unit`` says which).
    """

    curves: dict[str, list[float]] = field(default_factory=dict)
    seconds: float = 0.0
    unit: str = "epoch"
    step: int = 1

    def log(self, **values: float) -> None:
        for key, value in values.items():
            self.curves.setdefault(key, []).append(float(value))

    def __getitem__(self, key: str) -> list[float]:
        return self.curves[key]

    def __contains__(self, key: str) -> bool:
        return key in self.curves

    def keys(self):
        return self.curves.keys()

    @property
    def epochs(self) -> int:
        return max((len(v) for v in self.curves.values()), default=0)
