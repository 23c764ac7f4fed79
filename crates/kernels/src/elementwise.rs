//! Kernels of the `elementwise` op family.
