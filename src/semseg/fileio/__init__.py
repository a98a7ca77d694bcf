"""File formats: images (atomic writes), file-type sniffing, video, TFLite flatbuffers."""
