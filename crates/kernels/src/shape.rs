//! Kernels of the `shape` op family.
