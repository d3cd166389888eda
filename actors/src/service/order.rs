//! The start order of services: every dependency known, no cycle, and
//! dependencies before their dependents (declared order otherwise).

use std::collections::{HashMap, HashSet};

use super::spec::ServiceSpec;
use crate::error::{Error, Result};

/// Order `specs` (checked together with the services already supervised,
/// `existing`) so that each comes after everything it depends on; among
/// services free to start, the declared order holds.
///
/// # Errors
/// `ServiceExists` for a name given twice (or already supervised),
/// `UnknownServiceDependency` for a dependency no service has,
/// `ServiceCycle` naming the first cycle found.
pub(crate) fn order(
    specs: Vec<ServiceSpec>,
    existing: &HashSet<String>,
) -> Result<Vec<ServiceSpec>> {
    let mut index = HashMap::new();
    for (i, spec) in specs.iter().enumerate() {
        if existing.contains(&spec.name) || index.insert(spec.name.clone(), i).is_some() {
            return Err(Error::ServiceExists(spec.name.clone()));
        }
    }
    for spec in &specs {
        if let Some(dep) = spec
            .dependencies()
            .find(|d| !index.contains_key(*d) && !existing.contains(*d))
        {
            return Err(Error::UnknownServiceDependency {
                service: spec.name.clone(),
                dependency: dep.to_string(),
            });
        }
    }
    if let Some(path) = find_cycle(&specs, &index) {
        return Err(Error::ServiceCycle { path });
    }
    // Kahn's algorithm, always taking the first service (in declared
    // order) whose dependencies among `specs` are placed.
    let mut placed = vec![false; specs.len()];
    let mut order = Vec::with_capacity(specs.len());
    while order.len() < specs.len() {
        let next = (0..specs.len())
            .find(|&i| {
                !placed[i]
                    && specs[i]
                        .dependencies()
                        .all(|d| index.get(d).is_none_or(|&j| placed[j]))
            })
            .expect("no cycle, so some service is free to start");
        placed[next] = true;
        order.push(next);
    }
    let mut slots: Vec<Option<ServiceSpec>> = specs.into_iter().map(Some).collect();
    Ok(order.into_iter().filter_map(|i| slots[i].take()).collect())
}

/// The first cycle among `specs`, as a path that repeats its first name.
fn find_cycle(specs: &[ServiceSpec], index: &HashMap<String, usize>) -> Option<Vec<String>> {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        New,
        OnPath,
        Done,
    }
    fn visit(
        i: usize,
        specs: &[ServiceSpec],
        index: &HashMap<String, usize>,
        marks: &mut [Mark],
        path: &mut Vec<usize>,
    ) -> Option<Vec<String>> {
        marks[i] = Mark::OnPath;
        path.push(i);
        for dep in specs[i].dependencies() {
            let Some(&j) = index.get(dep) else { continue };
            match marks[j] {
                Mark::OnPath => {
                    let from = path.iter().position(|&k| k == j).unwrap_or(0);
                    let mut cycle: Vec<String> = path[from..]
                        .iter()
                        .map(|&k| specs[k].name.clone())
                        .collect();
                    cycle.push(specs[j].name.clone());
                    return Some(cycle);
                }
                Mark::New => {
                    if let Some(cycle) = visit(j, specs, index, marks, path) {
                        return Some(cycle);
                    }
                }
                Mark::Done => {}
            }
        }
        path.pop();
        marks[i] = Mark::Done;
        None
    }
    let mut marks = vec![Mark::New; specs.len()];
    for i in 0..specs.len() {
        if marks[i] == Mark::New
            && let Some(cycle) = visit(i, specs, index, &mut marks, &mut Vec::new())
        {
            return Some(cycle);
        }
    }
    None
}
