//! Offline metrics: AUC-PR (average precision), AUC-ROC, log loss, ECE, the Platt
//! calibration fit (definitions in `models/README.md`, "Metrics"), and the ranking
//! agreement `camoe convert` reports (top-k, Kendall's tau), and the noise-free
//! versions scored against the simulator's true probabilities instead of clicks.

/// Indices sorted by score, highest first (stable, NaN last).
fn order_desc(scores: &[f32]) -> Vec<usize> {
    let mut idx: Vec<usize> = (0..scores.len()).collect();
    idx.sort_by(|&a, &b| {
        scores[b]
            .partial_cmp(&scores[a])
            .unwrap_or(std::cmp::Ordering::Equal)
    });
    idx
}

/// Area under the precision-recall curve as average precision:
/// `AP = Σ_k (R_k − R_{k−1}) · P_k` over the distinct score thresholds, highest
/// first (tied scores enter together). `NaN` when there is no positive.
pub fn auc_pr(scores: &[f32], labels: &[f32]) -> f64 {
    let pos: f64 = labels.iter().map(|&y| (y > 0.5) as u8 as f64).sum();
    if pos == 0.0 {
        return f64::NAN;
    }
    let idx = order_desc(scores);
    let (mut tp, mut fp, mut ap) = (0f64, 0f64, 0f64);
    let mut i = 0;
    while i < idx.len() {
        let s = scores[idx[i]];
        let tp0 = tp;
        while i < idx.len() && scores[idx[i]] == s {
            if labels[idx[i]] > 0.5 {
                tp += 1.0
            } else {
                fp += 1.0
            }
            i += 1;
        }
        ap += (tp - tp0) / pos * (tp / (tp + fp));
    }
    ap
}

/// Area under the ROC curve (probability a random positive outscores a random
/// negative, ties counting one half). `NaN` if one class is absent.
pub fn auc_roc(scores: &[f32], labels: &[f32]) -> f64 {
    let idx = order_desc(scores);
    let pos: f64 = labels.iter().map(|&y| (y > 0.5) as u8 as f64).sum();
    let neg = labels.len() as f64 - pos;
    if pos == 0.0 || neg == 0.0 {
        return f64::NAN;
    }
    // Walk from the top: each negative is outscored by the positives seen before it.
    let (mut seen_pos, mut wins) = (0f64, 0f64);
    let mut i = 0;
    while i < idx.len() {
        let s = scores[idx[i]];
        let (mut p, mut n) = (0f64, 0f64);
        while i < idx.len() && scores[idx[i]] == s {
            if labels[idx[i]] > 0.5 {
                p += 1.0
            } else {
                n += 1.0
            }
            i += 1;
        }
        wins += n * (seen_pos + 0.5 * p);
        seen_pos += p;
    }
    wins / (pos * neg)
}

/// Mean binary cross-entropy, probabilities clipped to [1e-7, 1 − 1e-7].
pub fn log_loss(p: &[f32], labels: &[f32]) -> f64 {
    let n = p.len().max(1) as f64;
    p.iter()
        .zip(labels)
        .map(|(&p, &y)| {
            let p = (p as f64).clamp(1e-7, 1.0 - 1e-7);
            if y > 0.5 {
                -p.ln()
            } else {
                -(1.0 - p).ln()
            }
        })
        .sum::<f64>()
        / n
}

/// Expected calibration error over `bins` equal-count bins of the rows sorted by
/// predicted probability: `Σ_b (n_b / n) · |mean p_b − mean y_b|`. Equal-count
/// bins because CTRs crowd into the lowest of equal-width bins.
pub fn ece(p: &[f32], labels: &[f32], bins: usize) -> f64 {
    let n = p.len();
    if n == 0 {
        return f64::NAN;
    }
    let mut idx: Vec<usize> = (0..n).collect();
    idx.sort_by(|&a, &b| p[a].partial_cmp(&p[b]).unwrap_or(std::cmp::Ordering::Equal));
    let mut e = 0f64;
    for b in 0..bins {
        let (lo, hi) = (b * n / bins, (b + 1) * n / bins);
        if hi == lo {
            continue;
        }
        let (mut sp, mut sy) = (0f64, 0f64);
        for &i in &idx[lo..hi] {
            sp += p[i] as f64;
            sy += labels[i] as f64;
        }
        let m = (hi - lo) as f64;
        e += m / n as f64 * (sp / m - sy / m).abs();
    }
    e
}

/// Binary entropy in nats, clipped like [`log_loss`].
pub fn entropy(p: f64) -> f64 {
    let p = p.clamp(1e-7, 1.0 - 1e-7);
    -(p * p.ln() + (1.0 - p) * (1.0 - p).ln())
}

/// Expected log loss of predictions `q` against true probabilities `p`:
/// `−Σ [p ln q + (1−p) ln(1−q)] / n`, the mean of what [`log_loss`] would give
/// over every draw of the clicks.
pub fn expected_log_loss(q: &[f32], p: &[f32]) -> f64 {
    let n = q.len().max(1) as f64;
    q.iter()
        .zip(p)
        .map(|(&q, &p)| {
            let (q, p) = ((q as f64).clamp(1e-7, 1.0 - 1e-7), p as f64);
            -(p * q.ln() + (1.0 - p) * (1.0 - q).ln())
        })
        .sum::<f64>()
        / n
}

/// Normalized entropy against the truth: expected log loss divided by the
/// entropy of the mean true CTR (the loss of always predicting that mean).
pub fn normalized_entropy(q: &[f32], p: &[f32]) -> f64 {
    let mean = p.iter().map(|&x| x as f64).sum::<f64>() / p.len().max(1) as f64;
    expected_log_loss(q, p) / entropy(mean)
}

/// Share of the oracle's gain a model recovers: `(NE_base − NE) / (NE_base −
/// NE_oracle)` with NE_base = 1 (the mean-CTR constant) and NE_oracle the NE of
/// `p` itself. 0 = no better than the constant, 1 = the oracle.
pub fn oracle_gain_share(q: &[f32], p: &[f32]) -> f64 {
    let oracle = normalized_entropy(p, p);
    (1.0 - normalized_entropy(q, p)) / (1.0 - oracle)
}

/// AUC-ROC with soft labels: each row is a positive of weight `p` and a negative
/// of weight `1 − p`; pairs of distinct rows only (the expected numerator and
/// denominator of the click-based AUC over the draws of the clicks). Ties count
/// one half. `NaN` when no pair has both a positive and a negative weight.
pub fn soft_auc_roc(scores: &[f32], p: &[f32]) -> f64 {
    let idx = order_desc(scores);
    let (mut seen_pos, mut wins, mut self_pairs) = (0f64, 0f64, 0f64);
    let mut i = 0;
    while i < idx.len() {
        let s = scores[idx[i]];
        let (mut gp, mut gn, mut gself) = (0f64, 0f64, 0f64);
        while i < idx.len() && scores[idx[i]] == s {
            let w = p[idx[i]] as f64;
            gp += w;
            gn += 1.0 - w;
            gself += w * (1.0 - w);
            i += 1;
        }
        // Within a tie group, pairs of distinct rows count one half.
        wins += gn * seen_pos + 0.5 * (gp * gn - gself);
        seen_pos += gp;
        self_pairs += gself;
    }
    let neg: f64 = p.iter().map(|&w| 1.0 - w as f64).sum();
    let pairs = seen_pos * neg - self_pairs;
    if pairs <= 0.0 {
        f64::NAN
    } else {
        wins / pairs
    }
}

/// Fits Platt scaling `p = sigmoid(a·z + b)` to logits `z` and labels by Newton's
/// method on the log loss (with a tiny ridge for stability). Returns (a, b).
pub fn platt_fit(z: &[f32], y: &[f32]) -> (f32, f32) {
    if z.is_empty() {
        return (1.0, 0.0);
    }
    let (mut a, mut b) = (1f64, 0f64);
    let ridge = 1e-6 * z.len() as f64;
    for _ in 0..50 {
        let (mut ga, mut gb, mut haa, mut hab, mut hbb) = (0f64, 0f64, ridge, 0f64, ridge);
        for (&zi, &yi) in z.iter().zip(y) {
            let zi = zi as f64;
            let p = 1.0 / (1.0 + (-(a * zi + b)).exp());
            let r = p - yi as f64;
            ga += r * zi;
            gb += r;
            let w = (p * (1.0 - p)).max(1e-12);
            haa += w * zi * zi;
            hab += w * zi;
            hbb += w;
        }
        ga += ridge * (a - 1.0);
        gb += ridge * b;
        let det = haa * hbb - hab * hab;
        if det.abs() < 1e-18 {
            break;
        }
        let da = (hbb * ga - hab * gb) / det;
        let db = (haa * gb - hab * ga) / det;
        a -= da;
        b -= db;
        if da.abs() < 1e-9 && db.abs() < 1e-9 {
            break;
        }
    }
    (a as f32, b as f32)
}

pub fn sigmoid(z: f32) -> f32 {
    1.0 / (1.0 + (-z).exp())
}

/// The `k` best indices by score, best first (ties: lower index first).
pub fn top(scores: &[f32], k: usize) -> Vec<usize> {
    let mut idx: Vec<usize> = (0..scores.len()).collect();
    idx.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]).then(a.cmp(&b)));
    idx.truncate(k);
    idx
}

/// Kendall's tau-b between two score vectors (1 = same order).
pub fn kendall_tau(a: &[f32], b: &[f32]) -> f64 {
    let (mut conc, mut disc, mut ta, mut tb) = (0i64, 0i64, 0i64, 0i64);
    for i in 0..a.len() {
        for j in i + 1..a.len() {
            let x = a[i].total_cmp(&a[j]) as i64;
            let y = b[i].total_cmp(&b[j]) as i64;
            match (x, y) {
                (0, 0) => {}
                (0, _) => ta += 1,
                (_, 0) => tb += 1,
                _ if x == y => conc += 1,
                _ => disc += 1,
            }
        }
    }
    let d = (((conc + disc + ta) * (conc + disc + tb)) as f64).sqrt();
    if d == 0.0 {
        1.0
    } else {
        (conc - disc) as f64 / d
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auc_pr_hand_computed() {
        // Sorted: 0.9(+) 0.8(-) 0.7(+) 0.1(-): AP = 1/2·1 + 1/2·2/3 = 5/6.
        let s = [0.1, 0.9, 0.7, 0.8];
        let y = [0.0, 1.0, 1.0, 0.0];
        assert!((auc_pr(&s, &y) - 5.0 / 6.0).abs() < 1e-12);
        // Perfect ranking: 1. Worst: positives last.
        assert!((auc_pr(&[0.9, 0.8, 0.1], &[1.0, 1.0, 0.0]) - 1.0).abs() < 1e-12);
        // 0.9(-) 0.8(-) 0.1(+): AP = 1 · 1/3.
        assert!((auc_pr(&[0.9, 0.8, 0.1], &[0.0, 0.0, 1.0]) - 1.0 / 3.0).abs() < 1e-12);
        // Ties enter together: all tied, 1 positive in 4 → precision 1/4.
        assert!((auc_pr(&[0.5; 4], &[0.0, 1.0, 0.0, 0.0]) - 0.25).abs() < 1e-12);
        assert!(auc_pr(&[0.5, 0.2], &[0.0, 0.0]).is_nan());
    }

    #[test]
    fn auc_roc_hand_computed() {
        let s = [0.1, 0.9, 0.7, 0.8];
        let y = [0.0, 1.0, 1.0, 0.0];
        // Pairs (pos, neg): (0.9,0.1) (0.9,0.8) (0.7,0.1) win, (0.7,0.8) loses → 3/4.
        assert!((auc_roc(&s, &y) - 0.75).abs() < 1e-12);
        assert!((auc_roc(&[0.5, 0.5], &[1.0, 0.0]) - 0.5).abs() < 1e-12);
    }

    #[test]
    fn ece_and_log_loss_hand_computed() {
        // Two bins of two rows: [0.1, 0.2] with labels [0, 1] → |0.15 − 0.5| = 0.35;
        // [0.6, 0.8] with labels [1, 1] → |0.7 − 1| = 0.3. ECE = (0.35 + 0.3) / 2.
        let p = [0.8, 0.1, 0.6, 0.2];
        let y = [1.0, 0.0, 1.0, 1.0];
        assert!((ece(&p, &y, 2) - 0.325).abs() < 1e-6);
        // One bin: |mean p − mean y| = |0.425 − 0.75|.
        assert!((ece(&p, &y, 1) - 0.325).abs() < 1e-6);
        // A perfectly calibrated constant predictor.
        assert!(ece(&[0.25; 8], &[1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0], 2) < 1e-9);
        let ll = log_loss(&[0.5, 0.9], &[1.0, 0.0]);
        assert!((ll - (2f64.ln() + 10f64.ln()) / 2.0).abs() < 1e-6);
    }

    #[test]
    fn platt_recovers_a_known_scaling() {
        // Labels drawn from sigmoid(2z − 1): the fit finds a ≈ 2, b ≈ −1.
        let mut rng = camoe::hash::SplitMix(5);
        let mut z = Vec::new();
        let mut y = Vec::new();
        for _ in 0..50_000 {
            let zi = rng.normal() * 1.5;
            z.push(zi);
            y.push((rng.uniform() < sigmoid(2.0 * zi - 1.0)) as u8 as f32);
        }
        let (a, b) = platt_fit(&z, &y);
        assert!(
            (a - 2.0).abs() < 0.1 && (b + 1.0).abs() < 0.1,
            "a {a} b {b}"
        );
    }

    #[test]
    fn kendall_tau_and_top() {
        assert_eq!(kendall_tau(&[1., 2., 3.], &[10., 20., 30.]), 1.0);
        assert_eq!(kendall_tau(&[1., 2., 3.], &[3., 2., 1.]), -1.0);
        assert!((kendall_tau(&[1., 2., 3., 4.], &[1., 3., 2., 4.]) - 4.0 / 6.0).abs() < 1e-12);
        assert_eq!(top(&[0.1, 0.5, 0.5, 0.2], 3), vec![1, 2, 3]);
    }

    #[test]
    fn noise_free_metrics_hand_computed() {
        // Expected log loss: one row p = 0.25 scored q = 0.5 → ln 2; scored by the
        // truth it is the entropy of 0.25.
        assert!((expected_log_loss(&[0.5], &[0.25]) - 2f64.ln()).abs() < 1e-9);
        let h = -(0.25f64 * 0.25f64.ln() + 0.75 * 0.75f64.ln());
        assert!((expected_log_loss(&[0.25], &[0.25]) - h).abs() < 1e-7);
        // NE: rows p = (0.1, 0.3), mean 0.2. The constant 0.2 has NE 1 and gain
        // share 0; the truth has gain share 1.
        let p = [0.1f32, 0.3];
        assert!((normalized_entropy(&[0.2, 0.2], &p) - 1.0).abs() < 1e-6);
        assert!(oracle_gain_share(&[0.2, 0.2], &p).abs() < 1e-5);
        assert!((oracle_gain_share(&p, &p) - 1.0).abs() < 1e-9);
        // By hand: NE of the truth = (H(0.1) + H(0.3)) / 2 / H(0.2).
        let hh = |x: f64| -(x * x.ln() + (1.0 - x) * (1.0 - x).ln());
        let want = (hh(0.1) + hh(0.3)) / 2.0 / hh(0.2);
        assert!((normalized_entropy(&p, &p) - want).abs() < 1e-6);
        // Soft AUC: scores 0.9, 0.1 with p = 0.8, 0.2. Pairs of distinct rows:
        // (pos 0, neg 1) weight 0.8·0.8 wins; (pos 1, neg 0) weight 0.2·0.2 loses.
        let a = soft_auc_roc(&[0.9, 0.1], &[0.8, 0.2]);
        assert!((a - 0.64 / (0.64 + 0.04)).abs() < 1e-6, "{a}");
        // Hard labels give the click-based AUC.
        let s = [0.1, 0.9, 0.7, 0.8];
        let y = [0.0, 1.0, 1.0, 0.0];
        assert!((soft_auc_roc(&s, &y) - auc_roc(&s, &y)).abs() < 1e-12);
        // All tied: one half.
        assert!((soft_auc_roc(&[0.5; 3], &[0.2, 0.6, 0.9]) - 0.5).abs() < 1e-9);
        // ECE against p: the soft labels enter as the bins' mean outcome.
        assert!((ece(&[0.2, 0.4], &[0.1, 0.3], 1) - 0.1).abs() < 1e-6);
    }

    /// On a large sample, each noise-free metric agrees with its click-based
    /// counterpart within the click-based one's sampling error.
    #[test]
    fn noise_free_metrics_agree_with_clicks_on_a_large_sample() {
        let mut rng = camoe::hash::SplitMix(17);
        let n = 400_000;
        let (mut p, mut q, mut y) = (Vec::new(), Vec::new(), Vec::new());
        for _ in 0..n {
            let z = rng.normal() * 1.2 - 3.0;
            let pi = sigmoid(z);
            // A model that sees part of the logit, slightly miscalibrated.
            let qi = sigmoid(0.8 * z + 0.5 * rng.normal() - 0.4);
            p.push(pi);
            q.push(qi);
            y.push((rng.uniform() < pi) as u8 as f32);
        }
        // Log loss: the clicks' mean has standard error sd(per-row loss)/√n.
        let per: Vec<f64> = q
            .iter()
            .zip(&y)
            .map(|(&q, &y)| log_loss(&[q], &[y]))
            .collect();
        let m = per.iter().sum::<f64>() / n as f64;
        let se = (per.iter().map(|l| (l - m) * (l - m)).sum::<f64>() / n as f64).sqrt()
            / (n as f64).sqrt();
        let e = expected_log_loss(&q, &p);
        assert!((m - e).abs() < 4.0 * se, "log loss {m} vs {e} (se {se})");
        // AUC-ROC: Hanley–McNeil standard error of the click-based AUC.
        let a = auc_roc(&q, &y);
        let np = y.iter().sum::<f32>() as f64;
        let nn = n as f64 - np;
        let (q1, q2) = (a / (2.0 - a), 2.0 * a * a / (1.0 + a));
        let se_a = ((a * (1.0 - a) + (np - 1.0) * (q1 - a * a) + (nn - 1.0) * (q2 - a * a))
            / (np * nn))
            .sqrt();
        let sa = soft_auc_roc(&q, &p);
        assert!(
            (a - sa).abs() < 4.0 * se_a,
            "AUC {a} vs soft {sa} (se {se_a})"
        );
        // ECE over 10 bins: each bin's click mean has error √(Σ p(1−p))/n_b.
        let (ec, ep) = (ece(&q, &y, 10), ece(&q, &p, 10));
        let var: f64 = p.iter().map(|&x| (x * (1.0 - x)) as f64).sum::<f64>();
        let se_e = (var / 10.0).sqrt() / (n as f64 / 10.0);
        assert!((ec - ep).abs() < 4.0 * se_e, "ECE {ec} vs {ep} (se {se_e})");
        assert!(ep > 0.005, "the model is miscalibrated: ECE {ep}");
        // NE: the clicks' log loss over the entropy of the click rate.
        let ne_c = m / entropy(np / n as f64);
        let ne = normalized_entropy(&q, &p);
        assert!((ne_c - ne).abs() < 0.01, "NE {ne_c} vs {ne}");
    }
}
