//! Kernels of the `nn` op family.
