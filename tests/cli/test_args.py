"""Shared options of the commands (semseg.cli.args): one ``HxW`` parser, ``--device``,
the dataset options and ``--runtime``."""

from __future__ import annotations

import argparse
import re

import pytest
import torch

from semseg.cli import build_parser, main
from semseg.cli.args import parse_device, parse_size
from semseg.device import DEVICE_NAMES, check_device_name
from semseg.errors import ConfigError


def test_parse_size() -> None:
    assert parse_size("360x480") == (360, 480)
    assert parse_size("64X96") == (64, 96)
    for bad in ("360x", "0x96", "64*96", "64x96x3", "-1x5", ""):
        with pytest.raises(ConfigError, match=re.escape(f"bad --window {bad!r}; expected HxW")):
            parse_size(bad, "--window")


def test_device_names() -> None:
    for name in ("auto", "cpu", "cuda", "cuda:0", "cuda:12"):
        assert check_device_name(name) == name
    for bad in ("tpu", "CPU", "cuda:", "cuda:x", "cuda0", "gpu", " cpu"):
        with pytest.raises(ConfigError, match=r"expected auto, cpu, cuda or cuda:N"):
            check_device_name(bad)
    assert parse_device("cpu") == "cpu"
    assert parse_device("auto") == ("cuda" if torch.cuda.is_available() else "cpu")


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_cuda_without_a_gpu_is_a_one_line_error() -> None:
    for name in ("cuda", "cuda:1"):
        with pytest.raises(ConfigError, match=rf"--device '{name}': no CUDA GPU is available"):
            parse_device(name)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_index_past_the_last_gpu() -> None:
    n = torch.cuda.device_count()
    assert parse_device(f"cuda:{n - 1}") == f"cuda:{n - 1}"
    with pytest.raises(ConfigError, match=rf"this machine has {n} CUDA GPU\(s\)"):
        parse_device(f"cuda:{n}")


def _device_action(command: str) -> argparse.Action:
    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    return next(a for a in sub.choices[command]._actions if "--device" in a.option_strings)


@pytest.mark.parametrize("command", ["predict", "eval", "bench", "background", "serve", "train"])
def test_every_command_takes_the_same_device_names(command: str) -> None:
    action = _device_action(command)
    assert action.choices is None and action.type is None  # checked by parse_device in run
    assert DEVICE_NAMES in action.help


@pytest.mark.parametrize("args", [
    ["predict", "default", "x.png", "-o", "out"],
    ["eval", "default", "--data", "nowhere"],
    ["bench", "enet", "--iters", "0"],
    ["background", "default", "x.png", "-o", "out.png"],
])
def test_bad_device_fails_first_with_one_line(capsys, args: list[str]) -> None:
    assert main([*args, "--device", "cuda:x"]) == 2
    err = capsys.readouterr().err.strip()
    assert err == (f"semseg {args[0]}: error: --device 'cuda:x': expected auto, cpu, cuda or "
                   "cuda:N")


def test_dataset_options_are_shared() -> None:
    """eval, forest eval/train and points pseudo/score read --data/--format/--palette/--split
    alike (cli.args.add_data_args); only the --split default differs."""
    parser = build_parser()
    commands = {("eval", "model.pt"): "val", ("forest", "eval", "f.npz"): "val",
                ("forest", "train", "-o", "f.npz"): "train", ("points", "score", "masks"): "val",
                ("points", "pseudo", "m.pt", "-o", "out"): "train"}
    for words, split in commands.items():
        args = parser.parse_args([*words, "--data", "root"])
        assert (args.data, args.format, args.palette, args.split) == ("root", "camvid", None, split)
        args = parser.parse_args([*words, "--data", "r", "--format", "folder", "--palette", "voc",
                                  "--split", "test"])
        assert (args.data, args.format, args.palette, args.split) == ("r", "folder", "voc", "test")


@pytest.mark.parametrize("command", [["eval", "m.pt", "--data", "r"], ["predict", "m", "x.png",
                                     "-o", "out"], ["background", "m", "x.png", "-o", "o.png"]])
def test_runtime_option_is_shared(command: list[str]) -> None:
    parser = build_parser()
    assert parser.parse_args(command).runtime == "torch"
    assert parser.parse_args([*command, "--runtime", "onnxruntime"]).runtime == "onnxruntime"
    with pytest.raises(SystemExit):
        parser.parse_args([*command, "--runtime", "tflite"])
