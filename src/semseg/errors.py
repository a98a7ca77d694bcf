"""User-facing errors. The CLI prints their message on one line and exits with code 2."""


class SemsegError(Exception):
    """Base class of every error caused by user input (files, options, data)."""


class InputFileError(SemsegError):
    """A file is missing, unreadable, corrupt or of the wrong kind."""


class LabelError(SemsegError):
    """A mask holds label values or colours that the dataset does not define."""


class DatasetLayoutError(SemsegError):
    """A dataset folder does not have the expected layout."""


class ConfigError(SemsegError):
    """An option or configuration value is invalid."""


class ModelError(SemsegError):
    """An unknown model name or an incompatible checkpoint."""


class TrainingError(SemsegError):
    """Training cannot go on (a non-finite loss), with what to try."""
