//! Graph helpers over tasks numbered `0..n` with dependency lists.

/// Returns a topological order (dependencies first) or, if there is a cycle, the
/// nodes of one cycle in order, first node repeated at the end.
pub fn topo_order(deps: &[Vec<u32>]) -> Result<Vec<u32>, Vec<u32>> {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        New,
        Open,
        Done,
    }
    let n = deps.len();
    let mut mark = vec![Mark::New; n];
    let mut order = Vec::with_capacity(n);
    // Iterative DFS: each frame is (node, index of the next dependency to visit).
    let mut stack: Vec<(u32, usize)> = Vec::new();
    for root in 0..n as u32 {
        if mark[root as usize] != Mark::New {
            continue;
        }
        stack.push((root, 0));
        mark[root as usize] = Mark::Open;
        while let Some(&mut (node, ref mut next)) = stack.last_mut() {
            if let Some(&dep) = deps[node as usize].get(*next) {
                *next += 1;
                match mark[dep as usize] {
                    Mark::New => {
                        mark[dep as usize] = Mark::Open;
                        stack.push((dep, 0));
                    }
                    Mark::Open => {
                        // The open frames from `dep` to the top form the cycle.
                        let start = stack.iter().position(|(v, _)| *v == dep).unwrap_or(0);
                        let mut cycle: Vec<u32> = stack[start..].iter().map(|(v, _)| *v).collect();
                        cycle.push(dep);
                        // Frames run dependent -> dependency; report it as "a needs b needs ... a".
                        return Err(cycle);
                    }
                    Mark::Done => {}
                }
            } else {
                mark[node as usize] = Mark::Done;
                order.push(node);
                stack.pop();
            }
        }
    }
    Ok(order)
}

/// Inverts dependency lists into dependent lists.
pub fn dependents(deps: &[Vec<u32>]) -> Vec<Vec<u32>> {
    let mut out = vec![Vec::new(); deps.len()];
    for (node, ds) in deps.iter().enumerate() {
        for &d in ds {
            out[d as usize].push(node as u32);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn orders_dependencies_first() {
        let deps = vec![vec![1, 2], vec![2], vec![]];
        let order = topo_order(&deps).unwrap();
        let pos = |v: u32| order.iter().position(|x| *x == v).unwrap();
        assert!(pos(2) < pos(1) && pos(1) < pos(0));
    }

    #[test]
    fn finds_a_cycle() {
        // 0 needs 1, 1 needs 2, 2 needs 0; 3 is independent.
        let deps = vec![vec![1], vec![2], vec![0], vec![]];
        let cycle = topo_order(&deps).unwrap_err();
        assert_eq!(cycle.first(), cycle.last());
        assert_eq!(cycle.len(), 4);
        for w in cycle.windows(2) {
            assert!(deps[w[0] as usize].contains(&w[1]));
        }
    }

    #[test]
    fn self_loop_is_a_cycle() {
        assert_eq!(topo_order(&[vec![0]]).unwrap_err(), vec![0, 0]);
    }
}
