"""Progress bars for training loops: ``tqdm.auto``, with a saved text that shows the end.

In Jupyter, ``tqdm.auto`` draws a widget. A saved notebook (GitHub, nbconvert, a notebook
opened without its widget state) shows the widget's plain-text fallback instead, and that
text is recorded when the widget is first displayed: every stored bar would read
``0%| | 0/12``. :func:`progress_bar` displays the widget under a display id and, when the
bar closes, updates that display with the final text (``GAPNet: 100% 12/12 epochs in
5.9 s``). Outside Jupyter it is plain ``tqdm`` text.
"""

from __future__ import annotations

import time

from tqdm.auto import tqdm

__all__ = ["progress_bar"]


class _NotebookBar:
    """A ``tqdm.notebook`` bar whose saved text becomes the final state when it closes."""

    def __init__(self, bar, handle, unit: str) -> None:
        self._bar, self._handle, self._unit = bar, handle, unit
        self._start = time.perf_counter()

    def update(self, n: int = 1) -> None:
        self._bar.update(n)

    def set_postfix(self, *args, **kwargs) -> None:
        self._bar.set_postfix(*args, **kwargs)

    def close(self) -> None:
        bar = self._bar
        bar.close()
        done = f"{100 * bar.n // bar.total}%" if bar.total else ""
        text = f"{bar.desc}: {done} {bar.n}/{bar.total} {self._unit}s in "
        text += f"{time.perf_counter() - self._start:.1f} s"
        view = {"version_major": 2, "version_minor": 0, "model_id": bar.container.model_id}
        bundle = {"application/vnd.jupyter.widget-view+json": view, "text/plain": text}
        self._handle.update(bundle, raw=True)


def progress_bar(total: int, desc: str, unit: str = "it", disable: bool = False):
    """A progress bar over ``total`` steps with ``update``, ``set_postfix`` and ``close``.

    In a Jupyter kernel (where ``tqdm.auto`` picks its widget), the saved notebook shows the
    bar's final state; elsewhere this is ``tqdm.auto.tqdm`` itself.
    """
    in_notebook = any(cls.__name__ == "tqdm_notebook" for cls in tqdm.__mro__)
    if disable or not in_notebook:
        return tqdm(total=total, desc=desc, unit=unit, disable=disable)
    from IPython.display import display

    bar = tqdm(total=total, desc=desc, unit=unit, display=False)
    view = {"version_major": 2, "version_minor": 0, "model_id": bar.container.model_id}
    text = f"{desc}: 0/{total} {unit}s"
    bundle = {"application/vnd.jupyter.widget-view+json": view, "text/plain": text}
    handle = display(bundle, raw=True, display_id=True)
    return _NotebookBar(bar, handle, unit)
