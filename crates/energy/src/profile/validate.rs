//! Semantic checks of a parsed profile. Each failure names the field path, e.g.
//! `units[0].arith.int_mult[1].pj`.
use super::schema::*;
use crate::figure::{Figure, WidthFigure};
use std::collections::HashSet;

type Check = Result<(), (String, String)>;

fn fail<T>(field: impl Into<String>, reason: impl Into<String>) -> Result<T, (String, String)> {
    Err((field.into(), reason.into()))
}

/// Every figure with its path.
pub(super) fn figures(p: &Profile) -> Vec<(String, Figure)> {
    let mut out = Vec::new();
    if let Some(b) = &p.backing {
        out.push((
            "backing.energy_pj_per_bit".into(),
            b.energy_pj_per_bit.clone(),
        ));
        out.push(("backing.bandwidth_mb_s".into(), b.bandwidth_mb_s.clone()));
    }
    for (i, u) in p.units.iter().enumerate() {
        unit_figures(&format!("units[{i}]"), u, &mut out);
    }
    for (i, t) in p.transfers.iter().enumerate() {
        let at = format!("transfers[{i}]");
        out.push((
            format!("{at}.energy_pj_per_byte"),
            t.energy_pj_per_byte.clone(),
        ));
        out.push((format!("{at}.bandwidth_mb_s"), t.bandwidth_mb_s.clone()));
    }
    out
}

fn unit_figures(at: &str, u: &Unit, out: &mut Vec<(String, Figure)>) {
    let mut push = |name: &str, f: &Figure| out.push((format!("{at}.{name}"), f.clone()));
    push("clock_mhz", &u.clock_mhz);
    push("static_power_mw", &u.static_power_mw);
    push("idle_power_mw", &u.idle_power_mw);
    if let Some(a) = &u.active_power_mw {
        push("active_power_mw", a);
    }
    push("elementwise_ops_per_cycle", &u.elementwise_ops_per_cycle);
    if let Some(k) = &u.software_kernel {
        push("software_kernel.cycles_per_mac", &k.cycles_per_mac);
        push("software_kernel.cycles_per_output", &k.cycles_per_output);
        push("software_kernel.cycles_per_layer", &k.cycles_per_layer);
        for (i, b) in k.by_kind.iter().enumerate() {
            push(
                &format!("software_kernel.by_kind[{i}].cycles_per_mac"),
                &b.cycles_per_mac,
            );
            push(
                &format!("software_kernel.by_kind[{i}].cycles_per_output"),
                &b.cycles_per_output,
            );
        }
    }
    let m = &u.mac_array;
    push("mac_array.rows", &m.rows);
    push("mac_array.cols", &m.cols);
    push("mac_array.accumulator_bits", &m.accumulator_bits);
    push("mac_array.utilization", &m.utilization);
    for (i, t) in m.throughput.iter().enumerate() {
        push(
            &format!("mac_array.throughput[{i}].macs_per_pe_per_cycle"),
            &t.macs_per_pe_per_cycle,
        );
    }
    let tables: [(&str, &[WidthFigure]); 4] = [
        ("int_add", &u.arith.int_add),
        ("int_mult", &u.arith.int_mult),
        ("fp_add", &u.arith.fp_add),
        ("fp_mult", &u.arith.fp_mult),
    ];
    for (name, table) in tables {
        for (i, w) in table.iter().enumerate() {
            push(&format!("arith.{name}[{i}]"), &w.figure());
        }
    }
    let mem = &u.memory;
    push(
        "memory.register_file.capacity_bytes",
        &mem.register_file.capacity_bytes,
    );
    push(
        "memory.register_file.energy_pj",
        &mem.register_file.energy_pj,
    );
    if let Some(lb) = &mem.local_buffer {
        push("memory.local_buffer.capacity_bytes", &lb.capacity_bytes);
        push("memory.local_buffer.energy_pj", &lb.energy_pj);
    }
    push("memory.sram.capacity_bytes", &mem.sram.capacity_bytes);
    push("memory.sram.energy_pj", &mem.sram.energy_pj);
    push(
        "memory.sram.bandwidth_bits_per_cycle",
        &mem.sram.bandwidth_bits_per_cycle,
    );
}

pub(super) fn check(p: &Profile) -> Check {
    if p.name.trim().is_empty() {
        return fail("name", "empty");
    }
    for (path, f) in figures(p) {
        if let Some(reason) = f.problem() {
            return fail(path, reason);
        }
    }
    if p.units.is_empty() {
        return fail("units", "a profile needs at least one unit");
    }
    let mut names = HashSet::new();
    for (i, u) in p.units.iter().enumerate() {
        let at = format!("units[{i}]");
        if !names.insert(u.name.as_str()) {
            return fail(
                format!("{at}.name"),
                format!("duplicate unit name `{}`", u.name),
            );
        }
        check_unit(&at, u, p.backing.is_some())?;
    }
    if let Some(b) = &p.backing {
        positive("backing.bandwidth_mb_s", &b.bandwidth_mb_s)?;
    }
    check_transfers(p)
}

fn positive(field: &str, f: &Figure) -> Check {
    if f.value > 0.0 {
        Ok(())
    } else {
        fail(field, "must be greater than zero")
    }
}

fn whole(field: &str, f: &Figure) -> Check {
    if f.value >= 1.0 && f.value.fract() == 0.0 {
        Ok(())
    } else {
        fail(field, format!("{} is not a whole number >= 1", f.value))
    }
}

fn check_unit(at: &str, u: &Unit, has_backing: bool) -> Check {
    positive(&format!("{at}.clock_mhz"), &u.clock_mhz)?;
    positive(
        &format!("{at}.elementwise_ops_per_cycle"),
        &u.elementwise_ops_per_cycle,
    )?;
    if u.ops.is_empty() {
        return fail(format!("{at}.ops"), "lists no op");
    }
    if u.precisions.is_empty() {
        return fail(format!("{at}.precisions"), "lists no precision");
    }
    if u.weights_in_backing && !has_backing {
        return fail(
            format!("{at}.weights_in_backing"),
            "true but the profile has no [backing]",
        );
    }
    if let Some(k) = &u.software_kernel {
        if k.library.trim().is_empty() {
            return fail(
                format!("{at}.software_kernel.library"),
                "empty: name the kernel library the cycle figures describe",
            );
        }
        positive(
            &format!("{at}.software_kernel.cycles_per_mac"),
            &k.cycles_per_mac,
        )?;
        for (i, b) in k.by_kind.iter().enumerate() {
            let field = format!("{at}.software_kernel.by_kind[{i}]");
            positive(&format!("{field}.cycles_per_mac"), &b.cycles_per_mac)?;
            if k.by_kind[..i].iter().any(|o| o.kind == b.kind) {
                return fail(format!("{field}.kind"), "listed twice");
            }
        }
    }
    let m = &u.mac_array;
    whole(&format!("{at}.mac_array.rows"), &m.rows)?;
    whole(&format!("{at}.mac_array.cols"), &m.cols)?;
    whole(
        &format!("{at}.mac_array.accumulator_bits"),
        &m.accumulator_bits,
    )?;
    let util = m.utilization.value;
    if !(util > 0.0 && util <= 1.0) {
        return fail(
            format!("{at}.mac_array.utilization"),
            format!("{util} is not in (0, 1]"),
        );
    }
    for (i, t) in m.throughput.iter().enumerate() {
        positive(
            &format!("{at}.mac_array.throughput[{i}].macs_per_pe_per_cycle"),
            &t.macs_per_pe_per_cycle,
        )?;
    }
    check_arith(at, u)?;
    check_memory(at, &u.memory)
}

fn check_arith(at: &str, u: &Unit) -> Check {
    let a = &u.arith;
    for (name, e) in [
        ("add_exponent", a.scaling.add_exponent),
        ("mult_exponent", a.scaling.mult_exponent),
    ] {
        if !e.is_finite() || e < 0.0 {
            return fail(
                format!("{at}.arith.scaling.{name}"),
                "must be finite and >= 0",
            );
        }
    }
    if a.scaling.source.trim().is_empty() || a.scaling.rule.trim().is_empty() {
        return fail(
            format!("{at}.arith.scaling"),
            "needs a `rule` and its `source`",
        );
    }
    let tables: [(&str, &[WidthFigure]); 4] = [
        ("int_add", &a.int_add),
        ("int_mult", &a.int_mult),
        ("fp_add", &a.fp_add),
        ("fp_mult", &a.fp_mult),
    ];
    for (name, table) in tables {
        let mut seen = HashSet::new();
        for (i, w) in table.iter().enumerate() {
            if w.bits == 0 || w.bits > 64 || !seen.insert(w.bits) {
                return fail(
                    format!("{at}.arith.{name}[{i}].bits"),
                    format!("{} is zero, over 64 or listed twice", w.bits),
                );
            }
        }
    }
    if a.int_add.is_empty() || a.int_mult.is_empty() {
        return fail(
            format!("{at}.arith"),
            "int_add and int_mult need at least one width",
        );
    }
    let needs_fp = u.precisions.iter().any(|p| p.is_float())
        || u.mac_array
            .throughput
            .iter()
            .any(|t| t.precision.is_float());
    if needs_fp && (a.fp_add.is_empty() || a.fp_mult.is_empty()) {
        return fail(
            format!("{at}.arith"),
            "the unit lists a float precision but fp_add or fp_mult is empty",
        );
    }
    Ok(())
}

fn check_memory(at: &str, m: &Memory) -> Check {
    let levels = [
        ("register_file", m.register_file.access_bits),
        ("sram", m.sram.access_bits),
    ];
    for (name, bits) in levels {
        if bits == 0 {
            return fail(format!("{at}.memory.{name}.access_bits"), "must be >= 1");
        }
    }
    if let Some(lb) = &m.local_buffer {
        if lb.access_bits == 0 {
            return fail(
                format!("{at}.memory.local_buffer.access_bits"),
                "must be >= 1",
            );
        }
    }
    positive(
        &format!("{at}.memory.sram.capacity_bytes"),
        &m.sram.capacity_bytes,
    )?;
    positive(
        &format!("{at}.memory.sram.bandwidth_bits_per_cycle"),
        &m.sram.bandwidth_bits_per_cycle,
    )
}

fn check_transfers(p: &Profile) -> Check {
    for (i, t) in p.transfers.iter().enumerate() {
        for (end, name) in [("from", &t.from), ("to", &t.to)] {
            if p.unit(name).is_none() {
                return fail(
                    format!("transfers[{i}].{end}"),
                    format!("no unit named `{name}`"),
                );
            }
        }
        positive(&format!("transfers[{i}].bandwidth_mb_s"), &t.bandwidth_mb_s)?;
    }
    for (i, a) in p.units.iter().enumerate() {
        for b in &p.units[i + 1..] {
            if p.transfer(&a.name, &b.name).is_none() {
                return fail(
                    "transfers",
                    format!(
                        "no transfer cost between units `{}` and `{}`",
                        a.name, b.name
                    ),
                );
            }
        }
    }
    Ok(())
}
