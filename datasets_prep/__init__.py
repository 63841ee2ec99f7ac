"""Dataset preparation for clsr_plugin: from official HR folders to the files BasicSR reads.

Each step is a command-line tool (``python -m datasets_prep.<tool> --help``):

* :mod:`datasets_prep.generate_lr`: mod-crop HR and make MATLAB-style bicubic LR (x2/x3/x4).
* :mod:`datasets_prep.extract_subimages`: BasicSR's DIV2K sub-image recipe.
* :mod:`datasets_prep.create_lmdb`: LMDBs that BasicSR's ``io_backend: lmdb`` reads unchanged.
* :mod:`datasets_prep.prepare_benchmark`: ``<name>/HR`` and ``<name>/LR_bicubic/X4`` layouts.
* :mod:`datasets_prep.prepare_div2k`: the whole training pipeline (LR, sub-images, LMDBs).

Every step skips work that is already done, resumes an interrupted run, writes files through a
temporary name and an atomic rename, and never deletes a user's file. Image listing, reading,
sizes, MATLAB bicubic and atomic writes are the package's own (see :mod:`datasets_prep.common`).
"""

# basicsr 1.4.2 needs the torchvision alias before its first import; installing it here makes
# every ``datasets_prep.<tool>`` module safe to import basicsr at top level.
from _clsr_torchvision_shim import install_torchvision_shim

install_torchvision_shim()
