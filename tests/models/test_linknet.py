"""LinkNet: paper parameter count, additive skips from a ResNet-18 encoder."""

from __future__ import annotations

import torch

from semseg.models import create_model


def _n_params(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def test_parameter_count_matches_paper() -> None:
    # Paper Table 1: 11.5M; ours with 11 classes: 11,534,603 (+0.3 %), of which ResNet-18 is
    # 11,176,512 and the decoder the rest.
    model = create_model("linknet", num_classes=11)
    assert _n_params(model) == 11_534_603
    assert _n_params(model.encoder) == 11_176_512


def test_decoder_output_is_added_to_encoder_features() -> None:
    torch.manual_seed(0)
    model = create_model("linknet", num_classes=2).eval()
    seen: dict[str, torch.Tensor] = {}

    def keep(key: str, use_input: bool = False):
        def hook(module, inputs, output) -> None:  # returning None keeps the output unchanged
            seen[key] = (inputs[0] if use_input else output).clone()

        return hook

    model.decoder3.register_forward_hook(keep("d3_in", use_input=True))
    model.decoder4.register_forward_hook(keep("d4_out"))
    model.encoder.layer3.register_forward_hook(keep("e3"))
    with torch.inference_mode():
        model(torch.randn(1, 3, 64, 64))
    # Decoder block 3 receives decoder 4's output plus encoder block 3's (additive link).
    torch.testing.assert_close(seen["d3_in"], seen["d4_out"] + seen["e3"])
    assert seen["d3_in"].shape == (1, 256, 4, 4)
