"""The parts of ``clsr-demo`` (:mod:`clsr_plugin.demo`, its command line), one idea a module.

* :mod:`~clsr_plugin.showcase.photos`: the bundled sample photographs as HR sets and a large
  LR image;
* :mod:`~clsr_plugin.showcase.training`: the demo's option files and its backbone training;
* :mod:`~clsr_plugin.showcase.tables`: the Markdown tables of the ``clsr-bench`` reports;
* :mod:`~clsr_plugin.showcase.verdict`: what the held-out numbers say, in words;
* :mod:`~clsr_plugin.showcase.results`: ``results.md`` (written, or kept on a re-run);
* :mod:`~clsr_plugin.showcase.sheet`: the demo's comparison sheet;
* :mod:`~clsr_plugin.showcase.pipeline`: the steps, in order.
"""
