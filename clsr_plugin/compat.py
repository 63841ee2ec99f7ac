"""Run basicsr 1.4.2 on today's stack (torch >= 2.6, torchvision >= 0.17, CPU-only machines).

Applied once, on ``import clsr_plugin``, by patching objects in memory; no installed file is
edited. What it fixes:

* ``torchvision.transforms.functional_tensor`` (gone since torchvision 0.17) is provided as an
  alias module, so ``import basicsr`` works (:func:`install_torchvision_shim`, which runs
  *before* basicsr is imported).
* Checkpoints load through :mod:`clsr_plugin.utils.checkpoint`: weights-only by default, with
  a clear refusal naming the file and the opt-in flag (``path: {allow_unsafe_pickle: true}``),
  and ``.safetensors`` weights.
* ``--auto_resume`` works on CPU (basicsr calls ``torch.cuda.current_device()``) and looks for
  states under the run's own root, not the current directory. This also holds for a copy of
  ``basicsr/train.py`` run as a script, whose ``load_resume_state`` lives in ``__main__``:
  :func:`_wrap_parse_options` swaps it for :func:`load_resume_state` in that namespace.
* ``--launcher pytorch`` works on CPU (gloo) as well as GPUs (nccl); DDP wraps CPU models
  without ``device_ids``.
* Checkpoints and training states are written atomically (temporary file, then rename), so a
  crash while saving never leaves a truncated file that ``--auto_resume`` would pick up; a
  killed save's temporary file is removed by the next save.
* Options are parsed safely (:mod:`clsr_plugin.utils.options`: BasicSR's ``ordered_yaml``
  would build Python objects, i.e. run code) and validated right after ``parse_options``,
  before BasicSR makes the experiment folder; bad options exit with one line and code 2.
"""

from __future__ import annotations

import functools
import os
import os.path as osp
import sys

from _clsr_torchvision_shim import install_torchvision_shim
from clsr_plugin.utils.checkpoint import atomic_torch_save  # noqa: F401  (used and re-exported)

_APPLIED = False


def _allow_unsafe(opt: dict) -> bool:
    from clsr_plugin.utils.checkpoint import unsafe_pickle_opt

    return unsafe_pickle_opt(opt.get("path"))


def load_resume_state(opt: dict):
    """Replacement for ``basicsr.train.load_resume_state``: CPU-safe and weights-only."""
    from basicsr.utils import check_resume, scandir

    from clsr_plugin.utils.checkpoint import load_checkpoint

    resume_state_path = None
    if opt["auto_resume"]:
        root = opt.get("root_path", ".")
        state_path = osp.join(root, "experiments", opt["name"], "training_states")
        if osp.isdir(state_path):
            states = [
                v
                for v in scandir(state_path, suffix="state", recursive=False, full_path=False)
                if v[: -len(".state")].isdigit()
            ]
            if states:
                latest = max(int(v[: -len(".state")]) for v in states)
                resume_state_path = osp.join(state_path, f"{latest}.state")
                opt["path"]["resume_state"] = resume_state_path
    elif opt["path"].get("resume_state"):
        resume_state_path = opt["path"]["resume_state"]

    if resume_state_path is None:
        return None
    resume_state = load_checkpoint(resume_state_path, allow_unsafe_pickle=_allow_unsafe(opt))
    check_resume(opt, resume_state["iter"])
    return resume_state


def _is_basicsr_load_resume_state(func) -> bool:
    """Whether ``func`` is the ``load_resume_state`` of a ``basicsr/train.py`` file (any copy)."""
    code = getattr(func, "__code__", None)
    if code is None or getattr(func, "__name__", "") != "load_resume_state":
        return False
    parent, name = osp.split(osp.normpath(code.co_filename))
    return name == "train.py" and osp.basename(parent) == "basicsr"


def _wrap_parse_options(original):
    """Wrap ``basicsr.utils.options.parse_options`` to fix its caller's ``load_resume_state``.

    ``python basicsr/train.py`` runs the file as ``__main__``, whose ``train_pipeline`` looks
    ``load_resume_state`` up in ``__main__`` when it is called; by then the function is defined,
    and ``parse_options`` is the first thing ``train_pipeline`` calls.
    """

    @functools.wraps(original)
    def parse_options(root_path, is_train=True):
        import yaml

        from clsr_plugin.option_checks import validate_options
        from clsr_plugin.utils.cli import run_cli
        from clsr_plugin.utils.options import OptionsError

        caller = sys._getframe(1).f_globals
        if _is_basicsr_load_resume_state(caller.get("load_resume_state")):
            caller["load_resume_state"] = load_resume_state
        parsed = []

        def parse() -> None:
            try:
                opt, args = original(root_path, is_train)
            except yaml.MarkedYAMLError as err:
                mark = err.problem_mark or err.context_mark
                where = f"{mark.name}:{mark.line + 1}" if mark else "options"
                raise OptionsError(f"{where}: invalid YAML: {err.problem or err}") from None
            except KeyError as err:
                key = err.args[0] if err.args else err
                raise OptionsError(f"options: the required key {key!r} is missing") from None
            validate_options(opt)
            parsed.append((opt, args))

        prog = "clsr-train" if is_train else "clsr-test"
        code = run_cli(prog, parse, bad_input=(OptionsError,), failures=(), message=str)
        if code:
            raise SystemExit(code)
        return parsed[0]

    return parse_options


def _wrap_make_exp_dirs(original):
    """Wrap ``make_exp_dirs`` so it only creates folders for string paths.

    basicsr runs ``os.makedirs`` on every ``path:`` entry whose key it does not recognise, so a
    boolean flag such as ``allow_unsafe_pickle: true`` (or any ``~``) would crash the run.
    """

    @functools.wraps(original)
    def make_exp_dirs(opt):
        path_opt = opt["path"]
        skipped = {k: v for k, v in path_opt.items() if not isinstance(v, str)}
        for key in skipped:
            del path_opt[key]
        try:
            return original(opt)
        finally:
            path_opt.update(skipped)

    return make_exp_dirs


def init_dist(launcher: str, backend: str | None = None, **kwargs) -> None:
    """Replacement for ``basicsr.utils.dist_util.init_dist``: gloo on CPU, nccl on GPUs."""
    import torch
    import torch.distributed as dist
    import torch.multiprocessing as mp

    if launcher not in ("pytorch", "slurm"):
        raise ValueError(f"Invalid launcher type: {launcher}")
    if mp.get_start_method(allow_none=True) is None:
        mp.set_start_method("spawn")
    if launcher == "slurm":
        from basicsr.utils import dist_util

        dist_util._init_dist_slurm(backend or "nccl", **kwargs)
        return
    use_cuda = torch.cuda.is_available() and torch.cuda.device_count() > 0
    if use_cuda:
        local_rank = int(os.environ.get("LOCAL_RANK", os.environ.get("RANK", 0)))
        torch.cuda.set_device(local_rank % torch.cuda.device_count())
    dist.init_process_group(backend=backend or ("nccl" if use_cuda else "gloo"), **kwargs)


def _patch_basicsr() -> None:
    import torch
    from basicsr import test as basicsr_test
    from basicsr import train as basicsr_train
    from basicsr import utils as basicsr_utils
    from basicsr.models import base_model
    from basicsr.utils import dist_util, get_root_logger, misc
    from basicsr.utils import options as basicsr_options
    from torch.nn.parallel import DataParallel, DistributedDataParallel

    from clsr_plugin.utils.checkpoint import CheckpointError, load_checkpoint, select_state_dict
    from clsr_plugin.utils.options import OptionsLoader

    basicsr_train.load_resume_state = load_resume_state
    original_ordered_yaml = basicsr_options.ordered_yaml
    # parse_options and yaml_load look ordered_yaml up in their module: safe loading everywhere
    basicsr_options.ordered_yaml = lambda: (OptionsLoader, original_ordered_yaml()[1])
    parse_options = _wrap_parse_options(basicsr_options.parse_options)
    for module in (basicsr_options, basicsr_train, basicsr_test):  # they import it by name
        module.parse_options = parse_options
    dist_util.init_dist = init_dist
    make_dirs = _wrap_make_exp_dirs(misc.make_exp_dirs)
    for module in (misc, basicsr_utils, basicsr_train, basicsr_test):
        module.make_exp_dirs = make_dirs
    basicsr_options.init_dist = init_dist

    base = base_model.BaseModel

    def load_network(self, net, load_path, strict=True, param_key="params"):
        """Weights-only replacement for ``BaseModel.load_network`` (also reads .safetensors)."""
        logger = get_root_logger()
        net = self.get_bare_model(net)
        ckpt = load_checkpoint(load_path, allow_unsafe_pickle=_allow_unsafe(self.opt))
        wanted = param_key
        if param_key is not None and param_key not in ckpt and "params" in ckpt:
            param_key = "params"
        used, state = select_state_dict(ckpt, param_key)
        used = used or "(the checkpoint itself)"
        if used != wanted:
            logger.info("Loading: %s does not exist, use %s.", wanted, used)
        logger.info(f"Loading {net.__class__.__name__} model from {load_path}, key [{used}].")
        self._print_different_keys_loading(net, state, strict)
        try:
            net.load_state_dict(state, strict=strict)
        except RuntimeError as err:
            detail = " ".join(str(err).split("\n", 1)[-1].split())
            raise CheckpointError(
                f"{load_path} does not fit {net.__class__.__name__} (strict_load: {strict}): "
                f"{detail[:300]}"
            ) from None

    def model_to_device(self, net):
        """``BaseModel.model_to_device`` that also wraps CPU models in DDP (gloo)."""
        net = net.to(self.device)
        if self.opt["dist"]:
            find_unused = self.opt.get("find_unused_parameters", False)
            ids = [torch.cuda.current_device()] if self.device.type == "cuda" else None
            net = DistributedDataParallel(net, device_ids=ids, find_unused_parameters=find_unused)
        elif self.opt["num_gpu"] > 1:
            net = DataParallel(net)
        return net

    def save_network(self, net, net_label, current_iter, param_key="params"):
        """``BaseModel.save_network`` with an atomic write."""
        if current_iter == -1:
            current_iter = "latest"
        save_path = osp.join(self.opt["path"]["models"], f"{net_label}_{current_iter}.pth")
        nets = net if isinstance(net, list) else [net]
        keys = param_key if isinstance(param_key, list) else [param_key]
        if len(nets) != len(keys):
            raise ValueError("The lengths of net and param_key should be the same.")
        save_dict = {}
        for net_, key_ in zip(nets, keys):
            state = self.get_bare_model(net_).state_dict()
            save_dict[key_] = {
                (k[7:] if k.startswith("module.") else k): v.cpu() for k, v in state.items()
            }
        atomic_torch_save(save_dict, save_path)

    def save_training_state(self, epoch, current_iter):
        """``BaseModel.save_training_state`` with an atomic write; a model's
        ``extra_training_state(epoch, current_iter)`` adds to (or replaces) its entries."""
        if current_iter == -1:
            return
        state = {
            "epoch": epoch,
            "iter": current_iter,
            "optimizers": [o.state_dict() for o in self.optimizers],
            "schedulers": [s.state_dict() for s in self.schedulers],
        }
        extra = getattr(self, "extra_training_state", None)
        if callable(extra):
            state.update(extra(epoch, current_iter))
        path = osp.join(self.opt["path"]["training_states"], f"{current_iter}.state")
        atomic_torch_save(state, path)

    base.load_network = load_network
    base.model_to_device = model_to_device
    base.save_network = dist_util.master_only(save_network)
    base.save_training_state = dist_util.master_only(save_training_state)


def apply() -> None:
    """Apply every compatibility fix once; later calls do nothing."""
    global _APPLIED
    if _APPLIED:
        return
    install_torchvision_shim()
    _patch_basicsr()
    _APPLIED = True
