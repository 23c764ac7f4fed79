//! What a graph costs: its weight bytes as the energy model stores them, and its energy per
//! inference on a hardware profile.
use mw_energy::{evaluate, EnergyError, ModelWorkload, Options, Profile};
use mw_ir::Graph;
use serde::Serialize;

/// The resources of one graph.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Cost {
    /// `ModelWorkload::weight_stored_bits / 8`: the weights at their stored bits, as
    /// `milliwatt energy` reports `weight_stored_bytes`.
    pub weight_bytes: f64,
    /// Energy per inference on the profile, when one is given.
    pub energy_uj: Option<f64>,
}

/// Measures `graph` (a float or QDQ graph) on `profile`.
pub fn measure(graph: &Graph, profile: Option<&Profile>) -> Result<Cost, EnergyError> {
    let workload = ModelWorkload::from_graph(graph)?;
    let energy_uj = match profile {
        Some(p) => Some(evaluate(&workload, p, &Options::default())?.energy_per_inference_uj),
        None => None,
    };
    Ok(Cost {
        weight_bytes: workload.weight_stored_bits() as f64 / 8.0,
        energy_uj,
    })
}
