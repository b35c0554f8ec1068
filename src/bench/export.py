"""`bench-export CHECKPOINT [--out FILE]` (python -m bench.export): a trained network, out of a run's checkpoint.

A run's `checkpoint.pt` is for resuming: a checksummed header before a full pickle of the learner, its optimiser,
replay buffer and RNG states, so `torch.load` cannot open it directly (and should not: unpickling runs code). This
writes only the policy/value network of an mcts or rlvr checkpoint, in a format other tools read without bench:

- `FILE.safetensors` (the default, `net.safetensors` beside the checkpoint): the weights, with the metadata
  `bench_format`, `learner` and `net_config` (the `PolicyValueNet` constructor arguments, JSON);
- `FILE.pt`: `{"format", "learner", "net_config", "state_dict"}` for `torch.load(FILE, weights_only=True)`.

`bench-uci checkpoint=FILE` plays either file; `load_network` rebuilds the network from its own saved config.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from bench.errors import BenchError

FORMAT = "bench-policy-value-net/1"
NETWORK_LEARNERS = ("mcts", "rlvr")


def network_state(state: dict[str, Any], source: str = "checkpoint") -> tuple[str, dict[str, Any], dict[str, Any]]:
    """(learner name, net_config, weights) from a loaded run checkpoint; a BenchError for a learner without one."""
    learner = str(state.get("learner_name") or "")
    inner = state.get("learner") or {}
    if learner not in NETWORK_LEARNERS or "net" not in inner or "net_config" not in inner:
        raise BenchError(f"{source} holds a {learner or 'unknown'} learner without a policy/value network; only "
                         f"{' and '.join(NETWORK_LEARNERS)} checkpoints export one")
    return learner, dict(inner["net_config"]), dict(inner["net"])


def export_network(checkpoint: str | Path, out: str | Path | None = None) -> Path:
    """Write the network of `checkpoint` to `out` (.safetensors or .pt; default net.safetensors beside it)."""
    import torch

    from bench.results import load_checkpoint

    checkpoint = Path(checkpoint)
    learner, net_config, weights = network_state(load_checkpoint(checkpoint), str(checkpoint))
    target = Path(out) if out else checkpoint.with_name("net.safetensors")
    tensors = {k: v.detach().cpu().contiguous() for k, v in weights.items()}
    target.parent.mkdir(parents=True, exist_ok=True)
    if target.suffix == ".safetensors":
        from safetensors.torch import save_file

        save_file(tensors, str(target), metadata={"bench_format": FORMAT, "learner": learner,
                                                  "net_config": json.dumps(net_config, sort_keys=True)})
    elif target.suffix == ".pt":
        torch.save({"format": FORMAT, "learner": learner, "net_config": net_config, "state_dict": tensors}, target)
    else:
        raise BenchError(f"--out {target}: use a .safetensors or .pt file name")
    return target


def is_exported(path: str | Path) -> bool:
    """Whether `path` names an exported network rather than a run checkpoint."""
    path = Path(path)
    if path.suffix == ".safetensors":
        return True
    if path.suffix == ".pt" and path.is_file():
        with open(path, "rb") as handle:
            return handle.read(2) == b"PK"  # a torch.save zip; run checkpoints start with the BENCHCK1 header
    return False


def exported_learner(path: str | Path) -> str:
    """The learner (mcts or rlvr) an exported network was trained by."""
    path = Path(path)
    if not path.is_file():
        raise BenchError(f"{path} does not exist")
    if path.suffix == ".safetensors":
        from safetensors import safe_open

        with safe_open(str(path), framework="pt") as handle:
            return str((handle.metadata() or {}).get("learner") or "")
    return str(load_network(path)[0])


def load_network(path: str | Path, device: str = "cpu") -> tuple[str, Any, dict[str, Any]]:
    """(learner name, network in eval mode, net_config) from an exported file, rebuilt from its own config."""
    import torch

    from bench.network import PolicyValueNet

    path = Path(path)
    if not path.is_file():
        raise BenchError(f"{path} does not exist")
    if path.suffix == ".safetensors":
        from safetensors import safe_open
        from safetensors.torch import load_file

        with safe_open(str(path), framework="pt") as handle:
            meta = handle.metadata() or {}
        if meta.get("bench_format") != FORMAT:
            raise BenchError(f"{path} is not a network exported by bench-export (no bench_format metadata)")
        learner, net_config, weights = meta["learner"], json.loads(meta["net_config"]), load_file(str(path))
    else:
        data = torch.load(path, map_location="cpu", weights_only=True)
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise BenchError(f"{path} is not a network exported by bench-export")
        learner, net_config, weights = data["learner"], data["net_config"], data["state_dict"]
    net = PolicyValueNet(**net_config)
    net.load_state_dict(weights)
    return str(learner), net.to(device).eval(), dict(net_config)


def main(argv: list[str] | None = None) -> None:
    from bench.cli import guarded

    parser = argparse.ArgumentParser(prog="bench-export", description="Export a run checkpoint's network.")
    parser.add_argument("checkpoint", help="a run's checkpoint.pt (mcts or rlvr)")
    parser.add_argument("--out", default=None, help="FILE.safetensors (default: net.safetensors beside it) or FILE.pt")
    args = parser.parse_args(argv)
    print(guarded(lambda: export_network(args.checkpoint, args.out)))


if __name__ == "__main__":
    sys.exit(main())
