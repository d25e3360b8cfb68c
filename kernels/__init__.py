"""Kernel-side Assay API and kernelspecs (``assay.kernels``)."""
