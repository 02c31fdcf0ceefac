//! `localrank-train uplift`: whether reranking pays, from what a store already receives. The
//! browser draws each shopper's arm (`assignArm` in the package: reranked or server order) and
//! the storefront tags the orders it receives with it; this reports the uplift of the reranked
//! arm with a 95% interval from per-arm visits and orders (or order values), and, before a test,
//! how many visits detect a given lift (docs/evaluation.md, "Uplift").
//!
//! Normal approximations throughout (two independent binomial proportions; Welch for revenue per
//! visit; Katz's log interval for the ratio), the textbook choice at the thousands of visits an
//! online test has. Each visit is counted as independent: where the same shoppers make many
//! visits, count shoppers (the unit the arm is drawn for) if the store's analytics already does,
//! or the interval is too narrow.

use std::path::Path;

use crate::cli::UpliftArgs;

/// One arm's totals.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Arm {
    pub visits: u64,
    pub orders: u64,
    /// Sum and sum of squares of order values, where values are known.
    pub revenue: Option<(f64, f64)>,
}

/// An estimate with its 95% interval (or the interval at the requested level).
#[derive(Clone, Copy, Debug, serde::Serialize)]
pub struct Estimate {
    pub estimate: f64,
    pub ci: [f64; 2],
}

/// Standard normal quantile (Acklam's rational approximation, relative error < 1.2e-9).
pub fn normal_quantile(p: f64) -> f64 {
    const A: [f64; 6] = [-3.969683028665376e1, 2.209460984245205e2, -2.759285104469687e2, 1.383577518672690e2, -3.066479806614716e1, 2.506628277459239];
    const B: [f64; 5] = [-5.447609879822406e1, 1.615858368580409e2, -1.556989798598866e2, 6.680131188771972e1, -1.328068155288572e1];
    const C: [f64; 6] = [-7.784894002430293e-3, -3.223964580411365e-1, -2.400758277161838, -2.549732539343734, 4.374664141464968, 2.938163982698783];
    const D: [f64; 4] = [7.784695709041462e-3, 3.224671290700398e-1, 2.445134137142996, 3.754408661907416];
    let tail = |q: f64| (((((C[0] * q + C[1]) * q + C[2]) * q + C[3]) * q + C[4]) * q + C[5]) / ((((D[0] * q + D[1]) * q + D[2]) * q + D[3]) * q + 1.0);
    if p < 0.02425 {
        tail((-2.0 * p.ln()).sqrt())
    } else if p > 1.0 - 0.02425 {
        -tail((-2.0 * (1.0 - p).ln()).sqrt())
    } else {
        let q = p - 0.5;
        let r = q * q;
        (((((A[0] * r + A[1]) * r + A[2]) * r + A[3]) * r + A[4]) * r + A[5]) * q / (((((B[0] * r + B[1]) * r + B[2]) * r + B[3]) * r + B[4]) * r + 1.0)
    }
}

/// Standard normal CDF (Numerical Recipes' erfc, fractional error < 1.2e-7).
pub fn normal_cdf(x: f64) -> f64 {
    let z = x.abs() / std::f64::consts::SQRT_2;
    let t = 1.0 / (1.0 + 0.5 * z);
    let poly = -z * z - 1.26551223
        + t * (1.00002368 + t * (0.37409196 + t * (0.09678418 + t * (-0.18628806 + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277))))))));
    let erfc = t * poly.exp();
    if x >= 0.0 { 1.0 - 0.5 * erfc } else { 0.5 * erfc }
}

/// The reranked arm against the server-order arm in orders per visit: the absolute difference,
/// the relative lift and a two-sided p-value (pooled z-test).
pub fn conversion(server: Arm, reranked: Arm, alpha: f64) -> Result<serde_json::Value, String> {
    for (name, a) in [("server", server), ("reranked", reranked)] {
        if a.visits == 0 || a.orders > a.visits {
            return Err(format!("{name} arm: {} orders in {} visits (need visits > 0 and orders <= visits)", a.orders, a.visits));
        }
        if a.orders == 0 {
            return Err(format!("{name} arm: no orders yet, the relative lift is undefined; wait for orders in both arms"));
        }
    }
    let z = normal_quantile(1.0 - alpha / 2.0);
    let rate = |a: Arm| a.orders as f64 / a.visits as f64;
    let (ps, pr, ns, nr) = (rate(server), rate(reranked), server.visits as f64, reranked.visits as f64);
    let d = pr - ps;
    let se = (ps * (1.0 - ps) / ns + pr * (1.0 - pr) / nr).sqrt();
    // Katz: the log of the ratio of two proportions is close to normal.
    let ratio = pr / ps;
    let se_log = (1.0 / reranked.orders as f64 - 1.0 / nr + 1.0 / server.orders as f64 - 1.0 / ns).sqrt();
    let pooled = (server.orders + reranked.orders) as f64 / (ns + nr);
    let se_pooled = (pooled * (1.0 - pooled) * (1.0 / ns + 1.0 / nr)).sqrt();
    let p_value = if se_pooled > 0.0 { 2.0 * (1.0 - normal_cdf((d / se_pooled).abs())) } else { 1.0 };
    Ok(serde_json::json!({
        "server": {"visits": server.visits, "orders": server.orders, "orders_per_visit": ps},
        "reranked": {"visits": reranked.visits, "orders": reranked.orders, "orders_per_visit": pr},
        "difference": Estimate { estimate: d, ci: [d - z * se, d + z * se] },
        "relative_lift": Estimate { estimate: ratio - 1.0, ci: [(ratio.ln() - z * se_log).exp() - 1.0, (ratio.ln() + z * se_log).exp() - 1.0] },
        "p_value": p_value,
        "level": 1.0 - alpha,
    }))
}

/// Revenue per visit of both arms (visits without an order count as 0) and the reranked arm's
/// difference and relative lift (Welch; the ratio by the delta method on its log).
pub fn revenue(server: Arm, reranked: Arm, alpha: f64) -> Result<serde_json::Value, String> {
    let z = normal_quantile(1.0 - alpha / 2.0);
    let per_visit = |name: &str, a: Arm| -> Result<(f64, f64), String> {
        let (sum, squares) = a.revenue.ok_or_else(|| format!("{name} arm: no order values"))?;
        let n = a.visits as f64;
        if a.visits < 2 || a.orders > a.visits {
            return Err(format!("{name} arm: {} orders in {} visits (need at least 2 visits and orders <= visits)", a.orders, a.visits));
        }
        let mean = sum / n;
        Ok((mean, ((squares - n * mean * mean) / (n - 1.0)).max(0.0) / n))
    };
    let ((ms, vs), (mr, vr)) = (per_visit("server", server)?, per_visit("reranked", reranked)?);
    if ms <= 0.0 || mr <= 0.0 {
        return Err("revenue per visit is 0 in an arm: the relative lift is undefined".into());
    }
    let (d, se) = (mr - ms, (vs + vr).sqrt());
    let (ratio, se_log) = (mr / ms, (vr / (mr * mr) + vs / (ms * ms)).sqrt());
    Ok(serde_json::json!({
        "server_revenue_per_visit": ms,
        "reranked_revenue_per_visit": mr,
        "difference": Estimate { estimate: d, ci: [d - z * se, d + z * se] },
        "relative_lift": Estimate { estimate: ratio - 1.0, ci: [(ratio.ln() - z * se_log).exp() - 1.0, (ratio.ln() + z * se_log).exp() - 1.0] },
        "level": 1.0 - alpha,
    }))
}

/// Visits a test needs to detect a relative `lift` of orders per visit from `baseline` with
/// probability `power` at two-sided level `alpha`, a share `share` of visits reranked.
pub fn plan(baseline: f64, lift: f64, share: f64, alpha: f64, power: f64) -> Result<serde_json::Value, String> {
    let p2 = baseline * (1.0 + lift);
    if !(baseline > 0.0 && baseline < 1.0) || !(p2 > 0.0 && p2 < 1.0) || lift == 0.0 {
        return Err(format!("baseline rate {baseline} with lift {lift} must give two different rates in (0, 1)"));
    }
    if !(share > 0.0 && share < 1.0) || !(alpha > 0.0 && alpha < 1.0) || !(power > 0.0 && power < 1.0) {
        return Err(format!("share {share}, alpha {alpha} and power {power} must each be in (0, 1)"));
    }
    let z = normal_quantile(1.0 - alpha / 2.0) + normal_quantile(power);
    let var = baseline * (1.0 - baseline) / (1.0 - share) + p2 * (1.0 - p2) / share;
    let total = (z * z * var / ((p2 - baseline) * (p2 - baseline))).ceil();
    Ok(serde_json::json!({
        "baseline_orders_per_visit": baseline,
        "lift": lift,
        "share_reranked": share,
        "alpha": alpha,
        "power": power,
        "visits": total as u64,
        "reranked_visits": (total * share).ceil() as u64,
        "server_visits": (total * (1.0 - share)).ceil() as u64,
    }))
}

/// `localrank-train uplift`: prints the result as JSON (stdout) and a summary (stderr).
pub fn run(a: &UpliftArgs) -> Result<(), String> {
    let result = if a.plan {
        plan(a.baseline_rate.unwrap_or(0.0), a.lift.unwrap_or(0.0), a.share, a.alpha, a.power)?
    } else {
        let visits = |v: Option<u64>, name: &str| v.ok_or_else(|| format!("--{name}-visits is required"));
        let (sv, rv) = (visits(a.server_visits, "server")?, visits(a.reranked_visits, "reranked")?);
        let (server, reranked) = match &a.orders_csv {
            Some(path) => {
                let [(so, ss, sq), (ro, rs, rq)] = read_orders(path)?;
                (Arm { visits: sv, orders: so, revenue: Some((ss, sq)) }, Arm { visits: rv, orders: ro, revenue: Some((rs, rq)) })
            }
            None => {
                let orders = |v: Option<u64>, name: &str| v.ok_or_else(|| format!("--{name}-orders (or --orders-csv) is required"));
                (Arm { visits: sv, orders: orders(a.server_orders, "server")?, revenue: None }, Arm { visits: rv, orders: orders(a.reranked_orders, "reranked")?, revenue: None })
            }
        };
        let mut out = serde_json::json!({"orders": conversion(server, reranked, a.alpha)?});
        if a.orders_csv.is_some() {
            out["revenue"] = revenue(server, reranked, a.alpha)?;
        }
        out
    };
    eprintln!("{}", summary(&result));
    println!("{}", serde_json::to_string_pretty(&result).unwrap());
    Ok(())
}

/// One line per figure, for people.
fn summary(r: &serde_json::Value) -> String {
    let f = |v: &serde_json::Value| v.as_f64().unwrap_or(f64::NAN);
    if r.get("visits").is_some() {
        return format!(
            "{} visits in all ({} reranked, {} server order) detect a {:+.1}% lift of {:.4} orders per visit with {:.0}% power at level {}",
            r["visits"], r["reranked_visits"], r["server_visits"], 100.0 * f(&r["lift"]), f(&r["baseline_orders_per_visit"]), 100.0 * f(&r["power"]), r["alpha"]
        );
    }
    let lift = |b: &serde_json::Value, what: &str| {
        let l = &b["relative_lift"];
        format!("{what}: {:+.2}% ({:+.2}% to {:+.2}%, {:.0}% interval)", 100.0 * f(&l["estimate"]), 100.0 * f(&l["ci"][0]), 100.0 * f(&l["ci"][1]), 100.0 * f(&b["level"]))
    };
    let mut s = format!("{}; p = {:.4}", lift(&r["orders"], "orders per visit"), f(&r["orders"]["p_value"]));
    if r.get("revenue").is_some() {
        s += &format!("\n{}", lift(&r["revenue"], "revenue per visit"));
    }
    s
}

/// Per-arm order counts and value sums from a CSV of tagged orders: a header, then
/// `arm,value` per order (`arm`: `server` or `reranked`, as `assignArm` names them).
pub fn read_orders(path: &Path) -> Result<[(u64, f64, f64); 2], String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut arms = [(0u64, 0.0f64, 0.0f64); 2];
    for (n, line) in text.lines().enumerate().skip(1).filter(|(_, l)| !l.trim().is_empty()) {
        let at = || format!("{}:{}", path.display(), n + 1);
        let (arm, value) = line.split_once(',').ok_or_else(|| format!("{}: expected `arm,value`, got {line:?}", at()))?;
        let value: f64 = value.trim().parse().map_err(|_| format!("{}: order value {:?} is not a number", at(), value.trim()))?;
        if !value.is_finite() || value < 0.0 {
            return Err(format!("{}: order value {value} must be a finite number >= 0", at()));
        }
        let slot = match arm.trim() {
            "server" => 0,
            "reranked" => 1,
            other => return Err(format!("{}: arm {other:?} is neither `server` nor `reranked`", at())),
        };
        arms[slot].0 += 1;
        arms[slot].1 += value;
        arms[slot].2 += value * value;
    }
    Ok(arms)
}

#[cfg(test)]
mod tests {
    use super::*;

    // Reference figures from Python's statistics.NormalDist (the same formulas, computed apart).
    #[test]
    fn quantiles_and_cdf_match_the_normal_distribution() {
        assert!((normal_quantile(0.975) - 1.959963984540054).abs() < 1e-8);
        assert!((normal_quantile(0.8) - 0.8416212335729143).abs() < 1e-8);
        assert!((normal_quantile(0.001) + 3.090232306167813).abs() < 1e-7);
        assert!((normal_cdf(1.993828681848599) - (1.0 - 0.04617077997251373 / 2.0)).abs() < 1e-7);
        assert!((normal_cdf(-1.0) - 0.15865525393145707).abs() < 1e-7);
    }

    #[test]
    fn conversion_uplift_has_the_textbook_interval() {
        let arm = |visits, orders| Arm { visits, orders, revenue: None };
        let r = conversion(arm(10_000, 300), arm(10_000, 350), 0.05).unwrap();
        let f = |v: &serde_json::Value| v.as_f64().unwrap();
        assert!((f(&r["difference"]["estimate"]) - 0.005).abs() < 1e-12);
        assert!((f(&r["difference"]["ci"][0]) - 8.541229245888262e-05).abs() < 1e-8);
        assert!((f(&r["difference"]["ci"][1]) - 0.009914587707541125).abs() < 1e-8);
        assert!((f(&r["relative_lift"]["ci"][0]) - 0.002456072069812132).abs() < 1e-7);
        assert!((f(&r["relative_lift"]["ci"][1]) - 0.35777631462770176).abs() < 1e-7);
        assert!((f(&r["p_value"]) - 0.04617077997251373).abs() < 1e-6);
        assert!(conversion(arm(0, 0), arm(10, 1), 0.05).unwrap_err().contains("server arm"));
        assert!(conversion(arm(10, 1), arm(10, 0), 0.05).unwrap_err().contains("no orders"));
    }

    #[test]
    fn a_plan_needs_the_textbook_number_of_visits() {
        let f = |v: &serde_json::Value| v.as_f64().unwrap();
        // 3% of visits order; a 5% relative lift; half the visits reranked: 207,936 per arm.
        let even = plan(0.03, 0.05, 0.5, 0.05, 0.8).unwrap();
        assert_eq!(f(&even["visits"]), (2.0f64 * 207_935.1382156204).ceil());
        // 20% reranked costs more visits in all.
        let skewed = plan(0.03, 0.05, 0.2, 0.05, 0.8).unwrap();
        assert_eq!(f(&skewed["visits"]), 659_005.023962172f64.ceil());
        assert!(plan(0.03, 0.0, 0.5, 0.05, 0.8).is_err() && plan(0.03, 0.05, 1.0, 0.05, 0.8).is_err());
    }

    #[test]
    fn revenue_per_visit_counts_visits_without_orders_as_zero() {
        // Server: 4 visits, orders 10 and 30; reranked: 4 visits, orders 20, 20, 40.
        let server = Arm { visits: 4, orders: 2, revenue: Some((40.0, 1000.0)) };
        let reranked = Arm { visits: 4, orders: 3, revenue: Some((80.0, 2400.0)) };
        let r = revenue(server, reranked, 0.05).unwrap();
        let f = |v: &serde_json::Value| v.as_f64().unwrap();
        assert_eq!((f(&r["server_revenue_per_visit"]), f(&r["reranked_revenue_per_visit"])), (10.0, 20.0));
        // Sample variances of [10, 30, 0, 0] (200) and [20, 20, 40, 0] (266.67), each over 4 visits.
        let se = (200.0f64 / 4.0 + 800.0 / 3.0 / 4.0).sqrt();
        assert!((f(&r["difference"]["ci"][1]) - (10.0 + normal_quantile(0.975) * se)).abs() < 1e-9);
    }

    #[test]
    fn tagged_orders_are_read_and_bad_lines_named() {
        let dir = std::env::temp_dir().join(format!("uplift-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let good = dir.join("good.csv");
        std::fs::write(&good, "arm,value\nserver,10\nreranked,20.5\n\nreranked, 4\n").unwrap();
        assert_eq!(read_orders(&good).unwrap(), [(1, 10.0, 100.0), (2, 24.5, 20.5 * 20.5 + 16.0)]);
        let bad = dir.join("bad.csv");
        std::fs::write(&bad, "arm,value\nserver,10\ncontrol,3\n").unwrap();
        assert!(read_orders(&bad).unwrap_err().ends_with("bad.csv:3: arm \"control\" is neither `server` nor `reranked`"));
        std::fs::write(&bad, "arm,value\nserver,-1\n").unwrap();
        assert!(read_orders(&bad).unwrap_err().contains("bad.csv:2: order value -1"));
        std::fs::remove_dir_all(&dir).ok();
    }
}
