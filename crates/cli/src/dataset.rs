//! Datasets the CLI evaluates on, named `KIND:DIR` on the command line.
use anyhow::{bail, Context, Result};
use mw_data::speech_commands::{feature_values, features_tensor, Clip, SpeechCommands, Split};
use mw_data::MfccFrontEnd;
use mw_tensor::Tensor;
use std::fmt;
use std::ops::Range;
use std::path::PathBuf;
use std::str::FromStr;

#[derive(Clone, Debug, PartialEq)]
pub enum DatasetSpec {
    /// Speech Commands v0.02 test folders, features by the MLPerf Tiny MFCC front end.
    SpeechCommands(PathBuf),
    /// A folder with Fashion-MNIST (or MNIST) IDX test files.
    FashionMnist(PathBuf),
}

impl FromStr for DatasetSpec {
    type Err = anyhow::Error;
    fn from_str(s: &str) -> Result<Self> {
        let Some((kind, dir)) = s.split_once(':') else {
            bail!("dataset `{s}` must be KIND:DIR with KIND speech-commands or fashion-mnist");
        };
        let dir = PathBuf::from(dir);
        match kind {
            "speech-commands" => Ok(DatasetSpec::SpeechCommands(dir)),
            "fashion-mnist" | "mnist" => Ok(DatasetSpec::FashionMnist(dir)),
            other => bail!("unknown dataset kind `{other}` (speech-commands, fashion-mnist)"),
        }
    }
}

impl fmt::Display for DatasetSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DatasetSpec::SpeechCommands(d) => write!(f, "speech-commands:{}", d.display()),
            DatasetSpec::FashionMnist(d) => write!(f, "fashion-mnist:{}", d.display()),
        }
    }
}

/// Which speaker-disjoint part of a dataset to use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SplitArg {
    All,
    Calibration,
    Eval,
}

impl FromStr for SplitArg {
    type Err = anyhow::Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "all" => Ok(SplitArg::All),
            "calibration" | "calib" => Ok(SplitArg::Calibration),
            "eval" => Ok(SplitArg::Eval),
            other => bail!("unknown split `{other}` (all, calibration, eval)"),
        }
    }
}

impl fmt::Display for SplitArg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SplitArg::All => "all",
            SplitArg::Calibration => "calibration",
            SplitArg::Eval => "eval",
        })
    }
}

enum Source {
    Clips {
        clips: Vec<Clip>,
        front_end: Box<MfccFrontEnd>,
    },
    Images {
        pixels: Vec<u8>,
        per_example: usize,
    },
}

/// Labelled examples, materialized one batch at a time.
pub struct Examples {
    labels: Vec<String>,
    targets: Vec<usize>,
    source: Source,
}

impl DatasetSpec {
    pub fn open(&self, split: SplitArg) -> Result<Examples> {
        match self {
            DatasetSpec::SpeechCommands(dir) => {
                let ds = SpeechCommands::open(dir)?;
                let split = match split {
                    SplitArg::All => Split::All,
                    SplitArg::Calibration => Split::Calibration,
                    SplitArg::Eval => Split::Eval,
                };
                let clips: Vec<Clip> = ds.clips(split).cloned().collect();
                Ok(Examples {
                    labels: mw_data::LABELS.iter().map(|s| s.to_string()).collect(),
                    targets: clips.iter().map(|c| c.label).collect(),
                    source: Source::Clips {
                        clips,
                        front_end: Box::new(MfccFrontEnd::new()),
                    },
                })
            }
            DatasetSpec::FashionMnist(dir) => match split {
                SplitArg::All | SplitArg::Eval => open_fashion_mnist(dir, "t10k", None),
                SplitArg::Calibration => {
                    open_fashion_mnist(dir, "train", Some(FASHION_MNIST_CALIBRATION))
                }
            },
        }
    }
}

/// Fashion-MNIST class names, in label order.
pub const FASHION_MNIST_LABELS: [&str; 10] = [
    "t-shirt/top",
    "trouser",
    "pullover",
    "dress",
    "coat",
    "sandal",
    "shirt",
    "sneaker",
    "bag",
    "ankle boot",
];

/// Fashion-MNIST's calibration split: the first this many images of the training set, so
/// calibration never sees the test set that `eval` and `all` use.
pub const FASHION_MNIST_CALIBRATION: usize = 1000;

/// The images of a folder holding `{set}-{images-idx3,labels-idx1}-ubyte[.gz]` (`set` is `t10k`
/// for the 10,000-image test set, `train` for the training set), the first `limit` if given.
fn open_fashion_mnist(dir: &std::path::Path, set: &str, limit: Option<usize>) -> Result<Examples> {
    let find = |stem: &str| -> Result<PathBuf> {
        [dir.join(stem), dir.join(format!("{stem}.gz"))]
            .into_iter()
            .find(|p| p.is_file())
            .with_context(|| format!("no `{stem}[.gz]` in `{}`", dir.display()))
    };
    let images = mw_data::read_idx_images(&find(&format!("{set}-images-idx3-ubyte"))?)?;
    let labels = mw_data::read_idx_labels(&find(&format!("{set}-labels-idx1-ubyte"))?)?;
    let shape = images.shape().to_vec();
    if shape.len() != 3 || shape[0] != labels.len() {
        bail!(
            "Fashion-MNIST images {shape:?} do not match {} labels",
            labels.len()
        );
    }
    let count = limit.map_or(shape[0], |n| n.min(shape[0]));
    let targets: Vec<usize> = labels
        .to_i64_vec()?
        .into_iter()
        .take(count)
        .map(|l| l as usize)
        .collect();
    if let Some(bad) = targets.iter().find(|&&t| t >= FASHION_MNIST_LABELS.len()) {
        bail!("Fashion-MNIST label {bad} is out of range");
    }
    Ok(Examples {
        labels: FASHION_MNIST_LABELS.iter().map(|s| s.to_string()).collect(),
        targets,
        source: Source::Images {
            per_example: shape[1] * shape[2],
            pixels: {
                let mut pixels = images.into_vec::<u8>()?;
                pixels.truncate(count * shape[1] * shape[2]);
                pixels
            },
        },
    })
}

impl Examples {
    pub fn len(&self) -> usize {
        self.targets.len()
    }

    pub fn is_empty(&self) -> bool {
        self.targets.is_empty()
    }

    pub fn labels(&self) -> &[String] {
        &self.labels
    }

    pub fn targets(&self) -> &[usize] {
        &self.targets
    }

    /// The inputs of examples `range`, batch-major: speech clips as MFCC [b, 49, 10, 1];
    /// images as [b, 1, rows, cols] scaled to [0, 1].
    pub fn batch(&self, range: Range<usize>) -> Result<Tensor> {
        let b = range.len();
        match &self.source {
            Source::Clips { clips, front_end } => {
                Ok(features_tensor(feature_values(front_end, &clips[range])?)?)
            }
            Source::Images {
                pixels,
                per_example,
            } => {
                let bytes = &pixels[range.start * per_example..range.end * per_example];
                let data: Vec<f32> = bytes.iter().map(|&p| p as f32 / 255.0).collect();
                let side = (*per_example as f64).sqrt() as usize;
                Ok(Tensor::from_vec(
                    vec![b, 1, side, per_example / side.max(1)],
                    data,
                )?)
            }
        }
    }
}
