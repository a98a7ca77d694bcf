"""Segmentation architectures, one module per family, all reachable through ``create_model``."""

# Importing each family module registers its constructors (explicit, no discovery magic).
from semseg.models import (  # noqa: F401  (one family per line, so additions never conflict)
    deeplabv3_mobile,
    deeplabv3plus,
    enet,
    esanet,
    espnetv2,
    fcn,
    frrn,
    gnn3d,
    icnet,
    layers,
    linknet,
    litefpn,
    mosaic,
    pspnet,
    refinenet,
    salsanext,
    segnet,
    unet,
)
from semseg.models.registry import create_model, list_models, model_entry, register_model

__all__ = ["create_model", "list_models", "model_entry", "register_model"]
