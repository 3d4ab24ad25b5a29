//! `camoe simulate`: an audio-centric ad-serving log whose true click
//! probability is known. The generative model is documented in `docs/SIMULATOR.md`;
//! keep the two in step.

use camoe::hash::SplitMix;
use std::io::Write;

pub const DEVICES: [&str; 6] = ["phone", "desktop", "smart_speaker", "car", "tv", "web"];
/// Share of sessions per device.
const DEVICE_P: [f32; 6] = [0.56, 0.10, 0.09, 0.09, 0.05, 0.11];
pub const APP_STATES: [&str; 3] = ["foreground", "background", "locked"];
/// P(foreground), P(background) per device; locked is the rest.
const FOCUS_P: [[f32; 2]; 6] = [
    [0.20, 0.30], // phone: mostly in a pocket
    [0.35, 0.65], // desktop: another window has focus
    [0.00, 1.00], // smart speaker: no screen
    [0.05, 0.95], // car: eyes on the road
    [0.85, 0.15], // tv
    [0.30, 0.70], // web player in a background tab
];
pub const CONTENT: [&str; 4] = ["music", "podcast", "audiobook", "video"];
const CONTENT_P: [f32; 4] = [0.70, 0.18, 0.05, 0.07];
pub const MUSIC_GENRES: [&str; 16] = [
    "pop",
    "rock",
    "hiphop",
    "latin",
    "edm",
    "indie",
    "jazz",
    "classical",
    "country",
    "rnb",
    "metal",
    "kpop",
    "folk",
    "soul",
    "ambient",
    "kids",
];
pub const PODCAST_GENRES: [&str; 6] = [
    "pod_news",
    "pod_comedy",
    "pod_true_crime",
    "pod_sports",
    "pod_business",
    "pod_health",
];
pub const FORMATS: [&str; 3] = ["audio", "video", "display"];
/// Placement (= task) names and their format index, in the demo config's task order.
pub const PLACEMENTS: [(&str, usize); 7] = [
    ("music_audio_break", 0),
    ("podcast_midroll", 0),
    ("audiobook_break", 0),
    ("video_takeover", 1),
    ("inapp_banner", 2),
    ("home_leaderboard", 2),
    ("overlay", 2),
];
pub const CATEGORIES: [&str; 16] = [
    "auto",
    "finance",
    "retail",
    "travel",
    "food",
    "telecom",
    "gaming",
    "entertainment",
    "health",
    "beauty",
    "tech",
    "books",
    "insurance",
    "streaming",
    "sports",
    "public",
];
pub const AGES: [&str; 6] = ["18-24", "25-34", "35-44", "45-54", "55-64", "65+"];
pub const COUNTRIES: [&str; 20] = [
    "US", "GB", "DE", "SE", "BR", "MX", "FR", "ES", "IT", "CA", "AU", "NL", "PL", "IN", "JP", "ID",
    "PH", "AR", "CO", "NO",
];
pub const N_COUNTRIES: usize = COUNTRIES.len();
/// Ad id prefix per format (audio, video, display), as in `models/sample-request.txt`.
const AD_PREFIX: [&str; 3] = ["a_", "v_", "d_"];

/// Simulation sizes and the seed.
#[derive(Clone, Debug)]
pub struct SimConfig {
    pub seed: u64,
    pub impressions: usize,
    pub users: usize,
    pub ads: usize,
    pub advertisers: usize,
    /// Fractions of impressions in validation and test (the rest is train).
    pub valid_frac: f32,
    pub test_frac: f32,
    /// Modality divergence D (docs/SIMULATOR.md, "Divergence"): 0 is the
    /// original world, bit for bit; larger values give the formats click models
    /// of their own.
    pub divergence: f32,
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            seed: 1,
            impressions: 1_000_000,
            users: 20_000,
            ads: 3_000,
            advertisers: 400,
            valid_frac: 0.1,
            test_frac: 0.2,
            divergence: 0.0,
        }
    }
}

struct User {
    age: u8,
    country: u8,
    bias: f32,
    interest: [f32; 16],
    fav_genres: [u8; 3],
    /// Preferred device (sessions are 60% on it).
    device: u8,
}

struct Ad {
    advertiser: u16,
    category: u8,
    seconds: f32,
    companion: bool,
    quality: f32,
}

/// One simulated impression, as indices into the tables above.
#[derive(Clone, Debug)]
pub struct Impression {
    pub user: u32,
    pub age: u8,
    pub country: u8,
    pub device: u8,
    pub app_state: u8,
    pub content: u8,
    /// 0..16 music genres, 16..22 podcast genres, 22 audiobook, 23 video.
    pub genre: u8,
    pub hour_of_week: u8,
    pub session_minutes: f32,
    pub ad: u32,
    pub advertiser: u16,
    pub category: u8,
    pub placement: u8,
    pub format: u8,
    pub creative_seconds: f32,
    pub companion: bool,
    pub p_true: f32,
    pub click: bool,
    /// 0 train, 1 validation, 2 test.
    pub split: u8,
}

impl Impression {
    pub fn genre_name(&self) -> &'static str {
        genre_name(self.genre)
    }
    pub fn out_of_focus(&self) -> bool {
        self.app_state != 0
    }
}

pub fn genre_name(g: u8) -> &'static str {
    match g {
        0..=15 => MUSIC_GENRES[g as usize],
        16..=21 => PODCAST_GENRES[g as usize - 16],
        22 => "audiobook",
        _ => "video",
    }
}

fn pick(rng: &mut SplitMix, p: &[f32]) -> usize {
    let total: f32 = p.iter().sum();
    let mut u = rng.uniform() * total;
    for (i, &w) in p.iter().enumerate() {
        if u < w {
            return i;
        }
        u -= w;
    }
    p.len() - 1
}

/// Popularity-skewed draw in 0..n: `floor(n·u²)`, density ∝ 1/√x, so the most
/// popular of n items gets a 1/√n share (heavy users, hit ads) without one item dominating.
fn zipf(rng: &mut SplitMix, n: usize) -> usize {
    let u = rng.uniform();
    ((n as f32 * u * u) as usize).min(n - 1)
}

fn sigmoid(z: f32) -> f32 {
    1.0 / (1.0 + (-z).exp())
}

/// The fixed parameters of the world: users, ads and the cross tables.
pub struct World {
    users: Vec<User>,
    /// Ads of each format (indices into `ads`).
    by_format: [Vec<u32>; 3],
    ads: Vec<Ad>,
    /// hour-of-day block (6) × device (6) × genre (24) effect.
    hdg: Vec<f32>,
    div: Divergence,
}

/// The terms that make the formats' click models differ (all zero at D = 0).
/// Drawn from a stream of their own so that the world and the impressions of a
/// seed do not depend on D.
struct Divergence {
    d: f32,
    /// Per format: its own hour × device × genre table, N(0, 0.45) per cell.
    hdg: Vec<f32>,
    /// Display only: age bucket (6) × daypart (6), N(0, 0.5) per cell.
    age_daypart: Vec<f32>,
}

/// Per-format change of the interest weight per unit of D (audio, video, display):
/// at D = 1 the weights are 0.9 × (1.2, 0.6, 1.1).
const DIV_INTEREST: [f32; 3] = [0.2, -0.4, 0.1];
/// Per-format session-length slope per unit of D: long sessions help audio
/// (the listener is settled in) and hurt video (fatigue with the screen).
const DIV_SESSION: [f32; 3] = [0.3, -0.3, 0.0];

impl Divergence {
    fn new(seed: u64, d: f32) -> Divergence {
        let mut rng = SplitMix(seed ^ 0xD17E_0000_0000_0005);
        Divergence {
            d,
            hdg: (0..3 * 6 * 6 * 24).map(|_| rng.normal() * 0.45).collect(),
            age_daypart: (0..6 * 6).map(|_| rng.normal() * 0.5).collect(),
        }
    }

    /// The divergence terms of the logit; `interest` is the user's interest in the
    /// ad's category, `cell` the shared hdg table's index.
    fn logit(&self, im: &Impression, interest: f32, cell: usize) -> f32 {
        let (d, f) = (self.d, im.format as usize);
        let block = (im.hour_of_week as usize % 24) / 4;
        let session = ((im.session_minutes - 20.0) / 20.0).clamp(-1.0, 3.0);
        let mut z = d * DIV_INTEREST[f] * 0.9 * interest
            + d * self.hdg[f * 864 + cell]
            + d * DIV_SESSION[f] * session;
        if f == 2 {
            z += d * self.age_daypart[im.age as usize * 6 + block];
        }
        z
    }
}

/// Format-level base logits: audio, video, display (see SIMULATOR.md for the levels).
const BASE: [f32; 3] = [-6.6, -6.8, -8.2];
/// Placement offsets (task order).
const PLACEMENT_OFFSET: [f32; 7] = [0.0, 0.25, 0.1, 0.0, 0.0, -0.3, 0.35];
/// ln(10): the screen-visible effect. This literal, not `LN_10` (one ulp apart in
/// f32): the logs of every seed were generated with it.
#[allow(clippy::approx_constant)]
pub const SCREEN_EFFECT: f32 = 2.302_585;
/// Audio: the companion banner (60% of audio ads, +0.5 visible / −0.1 hidden)
/// carries part of the screen effect, so the base part is smaller; together ≈ ×10.
pub const AUDIO_SCREEN_EFFECT: f32 = 2.0;

impl World {
    pub fn new(cfg: &SimConfig) -> World {
        let mut rng = SplitMix(cfg.seed ^ 0x5157_0000_0000_0001);
        let seg_age: Vec<f32> = (0..6 * 16).map(|_| rng.normal() * 0.6).collect();
        let seg_region: Vec<f32> = (0..4 * 16).map(|_| rng.normal() * 0.4).collect();
        let users = (0..cfg.users)
            .map(|_| {
                // Interests: the taste of the user's segment (age × country
                // region) plus an individual part.
                let age = pick(&mut rng, &[0.22, 0.3, 0.2, 0.13, 0.09, 0.06]) as u8;
                let country = zipf(&mut rng, N_COUNTRIES) as u8;
                let mut interest = [0f32; 16];
                for (c, v) in interest.iter_mut().enumerate() {
                    *v = seg_age[age as usize * 16 + c]
                        + seg_region[(country as usize % 4) * 16 + c]
                        + rng.normal() * 0.3;
                }
                User {
                    age,
                    country,
                    bias: rng.normal() * 0.2,
                    interest,
                    fav_genres: [
                        rng.below(16) as u8,
                        rng.below(16) as u8,
                        rng.below(16) as u8,
                    ],
                    device: pick(&mut rng, &DEVICE_P) as u8,
                }
            })
            .collect();
        let adv_cat: Vec<u8> = (0..cfg.advertisers).map(|_| rng.below(16) as u8).collect();
        let mut by_format: [Vec<u32>; 3] = [Vec::new(), Vec::new(), Vec::new()];
        let ads = (0..cfg.ads)
            .map(|i| {
                let format = pick(&mut rng, &[0.5, 0.2, 0.3]) as u8;
                by_format[format as usize].push(i as u32);
                let advertiser = zipf(&mut rng, cfg.advertisers) as u16;
                let category = if rng.uniform() < 0.9 {
                    adv_cat[advertiser as usize]
                } else {
                    rng.below(16) as u8
                };
                let seconds = match format {
                    0 => [10.0, 15.0, 20.0, 30.0][rng.below(4) as usize],
                    1 => [6.0, 15.0, 30.0][rng.below(3) as usize],
                    _ => 0.0,
                };
                Ad {
                    advertiser,
                    category,
                    seconds,
                    companion: format == 0 && rng.uniform() < 0.6,
                    quality: rng.normal() * 0.25,
                }
            })
            .collect();
        let hdg = (0..6 * 6 * 24).map(|_| rng.normal() * 0.45).collect();
        World {
            users,
            by_format,
            ads,
            hdg,
            div: Divergence::new(cfg.seed, cfg.divergence),
        }
    }

    /// The true click logit of an impression (everything but the label is filled).
    pub fn logit(&self, im: &Impression) -> f32 {
        let u = &self.users[im.user as usize];
        let ad = &self.ads[im.ad as usize];
        let f = im.format as usize;
        let visible = im.app_state == 0;
        let mut z = BASE[f] + PLACEMENT_OFFSET[im.placement as usize];
        // App state × format: the screen-visible effect (×10 odds), and a
        // background video takeover is hardly ever clicked.
        if visible {
            z += if f == 0 {
                AUDIO_SCREEN_EFFECT
            } else {
                SCREEN_EFFECT
            };
        } else if f == 1 {
            z -= 1.0;
        }
        // Companion banner of an audio ad: clickable only when the screen is visible.
        if f == 0 && ad.companion {
            z += if visible { 0.5 } else { -0.1 };
        }
        // User interest × ad category.
        z += 0.9 * u.interest[ad.category as usize];
        // Hour of day × device × genre.
        let block = (im.hour_of_week as usize % 24) / 4;
        let cell = (block * 6 + im.device as usize) * 24 + im.genre as usize;
        z += self.hdg[cell];
        // Skipped, not multiplied by 0, at D = 0: the original world bit for bit.
        if self.div.d != 0.0 {
            z += self.div.logit(im, u.interest[ad.category as usize], cell);
        }
        // Creative length (longer audio and video creatives lose attention), session fatigue.
        if f != 2 {
            z -= 0.02 * (ad.seconds - 15.0);
        }
        z -= 0.008 * (im.session_minutes - 20.0).clamp(-20.0, 100.0);
        z + u.bias + ad.quality
    }

    fn impression(&self, rng: &mut SplitMix, cfg: &SimConfig) -> Impression {
        let user = zipf(rng, self.users.len()) as u32;
        let u = &self.users[user as usize];
        let device = if rng.uniform() < 0.6 {
            u.device as usize
        } else {
            pick(rng, &DEVICE_P)
        };
        let screen = matches!(device, 0 | 1 | 4 | 5);
        let mut content = pick(rng, &CONTENT_P);
        if content == 3 && !screen {
            content = 0;
        }
        let [pf, pb] = FOCUS_P[device];
        let app_state = if content == 3 {
            // Video is watched: foreground unless the viewer looks away.
            if rng.uniform() < 0.85 {
                0
            } else {
                1
            }
        } else {
            pick(rng, &[pf, pb, (1.0 - pf - pb).max(0.0)])
        } as u8;
        let genre = match content {
            0 => {
                if rng.uniform() < 0.7 {
                    u.fav_genres[rng.below(3) as usize]
                } else {
                    rng.below(16) as u8
                }
            }
            1 => 16 + rng.below(6) as u8,
            2 => 22,
            _ => 23,
        };
        // Hour of week: a day (uniform) and an hour from a diurnal profile.
        let hour = pick(
            rng,
            &[
                1.0, 0.6, 0.4, 0.3, 0.3, 0.5, 1.2, 2.2, 2.6, 2.0, 1.6, 1.6, 1.8, 1.7, 1.6, 1.7,
                2.0, 2.4, 2.5, 2.4, 2.2, 2.0, 1.7, 1.3,
            ],
        );
        let hour_of_week = (rng.below(7) as usize * 24 + hour) as u8;
        let session_minutes = (rng.normal() * 0.8 + 2.7).exp().min(240.0);
        // Placement: what the app can show in this state.
        let placement = if content == 3 {
            if rng.uniform() < 0.7 {
                3
            } else {
                6
            }
        } else if app_state == 0 {
            match pick(rng, &[0.55, 0.2, 0.12, 0.08, 0.05]) {
                0 => content,
                1 => 4,
                2 => 5,
                3 => 6,
                _ => 3,
            }
        } else if rng.uniform() < 0.95 {
            content
        } else {
            4
        };
        let format = PLACEMENTS[placement].1;
        let pool = &self.by_format[format];
        let ad = pool[zipf(rng, pool.len())];
        let a = &self.ads[ad as usize];
        let split_u = rng.uniform();
        let split = if split_u < cfg.test_frac {
            2
        } else if split_u < cfg.test_frac + cfg.valid_frac {
            1
        } else {
            0
        };
        let mut im = Impression {
            user,
            age: u.age,
            country: u.country,
            device: device as u8,
            app_state,
            content: content as u8,
            genre,
            hour_of_week,
            session_minutes,
            ad,
            advertiser: a.advertiser,
            category: a.category,
            placement: placement as u8,
            format: format as u8,
            creative_seconds: a.seconds,
            companion: a.companion,
            p_true: 0.0,
            click: false,
            split,
        };
        im.p_true = sigmoid(self.logit(&im));
        im.click = rng.uniform() < im.p_true;
        im
    }
}

/// Simulates `cfg.impressions` impressions, calling `sink` for each (in order).
pub fn simulate(cfg: &SimConfig, mut sink: impl FnMut(&Impression)) {
    let world = World::new(cfg);
    let mut rng = SplitMix(cfg.seed ^ 0x1111_2222_3333_4444);
    for _ in 0..cfg.impressions {
        let im = world.impression(&mut rng, cfg);
        sink(&im);
    }
}

/// Simulates into memory.
pub fn simulate_vec(cfg: &SimConfig) -> Vec<Impression> {
    let mut v = Vec::with_capacity(cfg.impressions);
    simulate(cfg, |im| v.push(im.clone()));
    v
}

/// Column names of the CSV files: the demo schema's fields, then `task,click,p_true`.
pub const COLUMNS: [&str; 19] = [
    "user_id",
    "age_bucket",
    "country",
    "device",
    "app_state",
    "content_type",
    "genre",
    "hour_of_week",
    "session_minutes",
    "ad_id",
    "advertiser",
    "ad_category",
    "placement",
    "ad_format",
    "creative_seconds",
    "has_companion",
    "task",
    "click",
    "p_true",
];

/// The string values of the 16 schema fields, in `COLUMNS` order.
pub fn field_values(im: &Impression) -> [String; 16] {
    [
        format!("u_{}", im.user),
        AGES[im.age as usize].to_string(),
        COUNTRIES[im.country as usize].to_string(),
        DEVICES[im.device as usize].to_string(),
        APP_STATES[im.app_state as usize].to_string(),
        CONTENT[im.content as usize].to_string(),
        im.genre_name().to_string(),
        im.hour_of_week.to_string(),
        format!("{:.1}", im.session_minutes),
        format!("{}{}", AD_PREFIX[im.format as usize], im.ad),
        format!("adv_{}", im.advertiser),
        CATEGORIES[im.category as usize].to_string(),
        PLACEMENTS[im.placement as usize].0.to_string(),
        FORMATS[im.format as usize].to_string(),
        format!("{}", im.creative_seconds),
        if im.companion { "yes" } else { "no" }.to_string(),
    ]
}

fn write_row(w: &mut impl Write, im: &Impression) -> std::io::Result<()> {
    for v in field_values(im) {
        w.write_all(v.as_bytes())?;
        w.write_all(b",")?;
    }
    writeln!(
        w,
        "{},{},{:.6e}",
        PLACEMENTS[im.placement as usize].0, im.click as u8, im.p_true
    )
}

/// Writes `train.csv`, `valid.csv`, `test.csv` into `dir`; returns rows per split.
pub fn write_splits(cfg: &SimConfig, dir: &std::path::Path) -> std::io::Result<[usize; 3]> {
    std::fs::create_dir_all(dir)?;
    let mut files = Vec::new();
    for name in ["train.csv", "valid.csv", "test.csv"] {
        let mut w =
            std::io::BufWriter::with_capacity(1 << 20, std::fs::File::create(dir.join(name))?);
        writeln!(w, "{}", COLUMNS.join(","))?;
        files.push(w);
    }
    let mut counts = [0usize; 3];
    let mut err = None;
    let t0 = std::time::Instant::now();
    let mut n = 0usize;
    simulate(cfg, |im| {
        if err.is_some() {
            return;
        }
        if let Err(e) = write_row(&mut files[im.split as usize], im) {
            err = Some(e);
        }
        counts[im.split as usize] += 1;
        n += 1;
        if n % 250_000 == 0 {
            let s = t0.elapsed().as_secs_f64();
            eprintln!("simulate: {n} impressions, {:.0} rows/s", n as f64 / s);
        }
    });
    if let Some(e) = err {
        return Err(e);
    }
    for mut f in files {
        f.flush()?;
    }
    Ok(counts)
}

/// Summary statistics of a simulated log (also printed by `camoe simulate`).
#[derive(Debug, Default, Clone)]
pub struct SimStats {
    pub n: usize,
    pub per_format: [usize; 3],
    pub clicks_per_format: [usize; 3],
    pub per_task: [usize; 7],
    /// Share of listening (music, podcast, audiobook content) with the app out of focus.
    pub listening_out_of_focus: f64,
    /// Mean true CTR of audio impressions with the screen visible / out of focus.
    pub audio_ctr_visible: f64,
    pub audio_ctr_hidden: f64,
    pub mean_p_per_format: [f64; 3],
}

pub fn stats(ims: &[Impression]) -> SimStats {
    let mut s = SimStats {
        n: ims.len(),
        ..Default::default()
    };
    let (mut listen, mut listen_oof) = (0usize, 0usize);
    let (mut vis, mut vis_p, mut hid, mut hid_p) = (0usize, 0f64, 0usize, 0f64);
    for im in ims {
        let f = im.format as usize;
        s.per_format[f] += 1;
        s.clicks_per_format[f] += im.click as usize;
        s.per_task[im.placement as usize] += 1;
        s.mean_p_per_format[f] += im.p_true as f64;
        if im.content != 3 {
            listen += 1;
            listen_oof += im.out_of_focus() as usize;
        }
        if f == 0 {
            if im.out_of_focus() {
                hid += 1;
                hid_p += im.p_true as f64;
            } else {
                vis += 1;
                vis_p += im.p_true as f64;
            }
        }
    }
    for f in 0..3 {
        s.mean_p_per_format[f] /= s.per_format[f].max(1) as f64;
    }
    s.listening_out_of_focus = listen_oof as f64 / listen.max(1) as f64;
    s.audio_ctr_visible = vis_p / vis.max(1) as f64;
    s.audio_ctr_hidden = hid_p / hid.max(1) as f64;
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn small(seed: u64) -> Vec<Impression> {
        simulate_vec(&SimConfig {
            seed,
            impressions: 200_000,
            ..Default::default()
        })
    }

    #[test]
    fn out_of_focus_share_and_volume_skew() {
        let ims = small(3);
        let s = stats(&ims);
        assert!(
            s.listening_out_of_focus > 0.70,
            "out-of-focus share {}",
            s.listening_out_of_focus
        );
        let [audio, video, display] = s.per_format;
        assert!(audio > 3 * display, "audio {audio} display {display}");
        assert!(display > video, "display {display} video {video}");
        assert!(video > 5_000, "too few video impressions: {video}");
        // Every placement is served.
        assert!(s.per_task.iter().all(|&n| n > 1_000), "{:?}", s.per_task);
    }

    #[test]
    fn screen_effect_is_about_ten_fold() {
        let s = stats(&small(4));
        let ratio = s.audio_ctr_visible / s.audio_ctr_hidden;
        assert!((6.0..16.0).contains(&ratio), "screen ratio {ratio}");
        // And it shows in the clicks, not only in the true probability.
        let ims = small(5);
        let (mut cv, mut nv, mut ch, mut nh) = (0f64, 0f64, 0f64, 0f64);
        for im in ims.iter().filter(|im| im.format == 0) {
            if im.out_of_focus() {
                nh += 1.0;
                ch += im.click as u8 as f64;
            } else {
                nv += 1.0;
                cv += im.click as u8 as f64;
            }
        }
        let r = (cv / nv) / (ch / nh);
        assert!((5.0..18.0).contains(&r), "clicked ratio {r}");
    }

    #[test]
    fn format_ctr_levels_are_plausible() {
        let s = stats(&small(6));
        let [a, v, d] = s.mean_p_per_format;
        assert!((0.002..0.01).contains(&a), "audio ctr {a}");
        assert!((0.005..0.03).contains(&v), "video ctr {v}");
        assert!((0.001..0.008).contains(&d), "display ctr {d}");
        assert!(v > a && a > d);
        // Clicks follow the true probabilities.
        for f in 0..3 {
            let emp = s.clicks_per_format[f] as f64 / s.per_format[f] as f64;
            let rel = (emp - s.mean_p_per_format[f]).abs() / s.mean_p_per_format[f];
            assert!(
                rel < 0.15,
                "format {f}: empirical {emp} vs true {}",
                s.mean_p_per_format[f]
            );
        }
    }

    #[test]
    fn deterministic_by_seed() {
        let cfg = SimConfig {
            seed: 9,
            impressions: 2_000,
            ..Default::default()
        };
        let a = simulate_vec(&cfg);
        let b = simulate_vec(&cfg);
        let c = simulate_vec(&SimConfig { seed: 10, ..cfg });
        let key = |v: &[Impression]| -> Vec<(u32, u32, bool, u32)> {
            v.iter()
                .map(|im| (im.user, im.ad, im.click, im.p_true.to_bits()))
                .collect()
        };
        assert_eq!(key(&a), key(&b));
        assert_ne!(key(&a), key(&c));
    }

    #[test]
    fn crosses_matter() {
        // The hour × device × genre table and interest × category move the logit
        // by more than noise: the spread of true logits within one format and
        // app state is wide.
        let ims = small(7);
        let zs: Vec<f64> = ims
            .iter()
            .filter(|im| im.format == 0 && im.app_state == 2)
            .map(|im| (im.p_true as f64 / (1.0 - im.p_true as f64)).ln())
            .collect();
        let m = zs.iter().sum::<f64>() / zs.len() as f64;
        let sd = (zs.iter().map(|z| (z - m) * (z - m)).sum::<f64>() / zs.len() as f64).sqrt();
        assert!(sd > 0.8, "logit sd {sd}");
    }

    /// FNV-1a of the CSV rows (with p_true's bits and the split) of a log.
    fn log_hash(cfg: &SimConfig) -> u64 {
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        simulate(cfg, |im| {
            let mut row = Vec::new();
            write_row(&mut row, im).unwrap();
            row.extend_from_slice(&im.p_true.to_bits().to_le_bytes());
            row.push(im.split);
            for b in row {
                h = (h ^ b as u64).wrapping_mul(0x100_0000_01b3);
            }
        });
        h
    }

    #[test]
    fn divergence_zero_is_the_original_log() {
        let cfg = SimConfig {
            seed: 1,
            impressions: 20_000,
            ..Default::default()
        };
        // Hash of the same rows written before the divergence knob existed.
        assert_eq!(log_hash(&cfg), 0x0bee_0e89_737f_9eb4);
        // A positive D changes the probabilities but not the impressions drawn.
        let d = SimConfig {
            divergence: 1.0,
            ..cfg.clone()
        };
        assert_ne!(log_hash(&d), log_hash(&cfg));
        let (a, b) = (simulate_vec(&cfg), simulate_vec(&d));
        assert!(a
            .iter()
            .zip(&b)
            .all(|(x, y)| (x.user, x.ad, x.hour_of_week) == (y.user, y.ad, y.hour_of_week)));
    }

    /// Slope of the true logit on session length, per format, with everything
    /// else as drawn (least squares of logit on clamped session minutes).
    fn session_slope(ims: &[Impression], f: u8) -> f64 {
        let pts: Vec<(f64, f64)> = ims
            .iter()
            .filter(|im| im.format == f)
            .map(|im| {
                let p = im.p_true as f64;
                (
                    (im.session_minutes as f64 - 20.0).clamp(-20.0, 60.0),
                    (p / (1.0 - p)).ln(),
                )
            })
            .collect();
        let n = pts.len() as f64;
        let (mx, my) = (
            pts.iter().map(|p| p.0).sum::<f64>() / n,
            pts.iter().map(|p| p.1).sum::<f64>() / n,
        );
        let sxy: f64 = pts.iter().map(|p| (p.0 - mx) * (p.1 - my)).sum();
        let sxx: f64 = pts.iter().map(|p| (p.0 - mx) * (p.0 - mx)).sum();
        sxy / sxx
    }

    #[test]
    fn divergence_gives_session_length_opposite_signs() {
        let base = simulate_vec(&SimConfig {
            seed: 8,
            impressions: 150_000,
            ..Default::default()
        });
        let div = simulate_vec(&SimConfig {
            seed: 8,
            impressions: 150_000,
            divergence: 2.0,
            ..Default::default()
        });
        // Today: session fatigue, the same negative slope for every format.
        assert!(session_slope(&base, 0) < 0.0 && session_slope(&base, 1) < 0.0);
        // Diverged: long sessions help audio and hurt video.
        let (a, v) = (session_slope(&div, 0), session_slope(&div, 1));
        assert!(a > 0.0 && v < 0.0, "audio slope {a}, video slope {v}");
    }
}
