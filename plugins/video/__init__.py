"""The built-in ``video`` plugin: compressed-domain video (CoViAR's I-frames, motion vectors, residuals).

Registers the datasets ``hmdb51``, ``ucf101``, ``folder`` and
``synthetic_actions``, the modalities ``iframe``, ``mv``, ``residual`` and
``rgb``, and the commands ``pkd prepare``, ``pkd inspect`` and
``pkd make-synthetic``. ``hooks`` registers them and imports only pydantic config models:
decoding (PyAV, numpy, torch) is imported when a component is built or a
command runs. See docs/video.md.
"""
