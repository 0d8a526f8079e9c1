//! The protobuf messages of TensorBoard event files that batchramp reads or writes, as Rust
//! structs with prost's derive (field numbers from TensorFlow's `event.proto`, `summary.proto`,
//! `tensor.proto`, `tensor_shape.proto` and TensorBoard's `hparams/plugin_data.proto`).
//!
//! Owns the message layouts only. Fields batchramp never looks at are left out: protobuf skips
//! unknown fields, so leaving one out loses nothing but that field. Large payloads that are
//! never interpreted (graphs, run metadata, images, histograms) are kept as raw bytes.

/// One record of an event file.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Event {
    /// Unix seconds when the event was written.
    #[prost(double, tag = "1")]
    pub wall_time: f64,
    /// The writer's global step.
    #[prost(int64, tag = "2")]
    pub step: i64,
    /// What the event holds.
    #[prost(oneof = "event::What", tags = "3, 4, 5, 6, 7, 8, 9")]
    pub what: Option<event::What>,
}

/// The kinds of [`Event`] payload.
pub mod event {
    /// What an event holds.
    #[derive(Clone, PartialEq, prost::Oneof)]
    pub enum What {
        /// `brain.Event:2`: the first event of a file.
        #[prost(string, tag = "3")]
        FileVersion(String),
        /// A serialized `GraphDef`.
        #[prost(bytes, tag = "4")]
        GraphDef(Vec<u8>),
        /// Summary values (scalars, histograms, images…).
        #[prost(message, tag = "5")]
        Summary(super::Summary),
        /// A log line (deprecated by TensorFlow, still readable).
        #[prost(message, tag = "6")]
        LogMessage(super::LogMessage),
        /// Session status: a START is a restart.
        #[prost(message, tag = "7")]
        SessionLog(super::SessionLog),
        /// A serialized `TaggedRunMetadata`.
        #[prost(bytes, tag = "8")]
        TaggedRunMetadata(Vec<u8>),
        /// A serialized `MetaGraphDef`.
        #[prost(bytes, tag = "9")]
        MetaGraphDef(Vec<u8>),
    }
}

/// Summary values written at one step.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Summary {
    /// The values.
    #[prost(message, repeated, tag = "1")]
    pub value: Vec<SummaryValue>,
}

/// One tagged value of a [`Summary`] (`Summary.Value` in TensorFlow).
#[derive(Clone, PartialEq, prost::Message)]
pub struct SummaryValue {
    /// The tag, e.g. `train/loss`.
    #[prost(string, tag = "1")]
    pub tag: String,
    /// Plugin and data class; TF2 writers put it on a tag's first value only.
    #[prost(message, optional, tag = "9")]
    pub metadata: Option<SummaryMetadata>,
    /// The value.
    #[prost(oneof = "summary_value::Value", tags = "2, 3, 4, 5, 6, 8")]
    pub value: Option<summary_value::Value>,
}

/// The kinds of [`SummaryValue`].
pub mod summary_value {
    /// A summary value's payload.
    // The tensor is inline, as prost generates it; only tests and tools build these (the
    // reader's hot path is `wire`), so the variant's size costs nothing that matters.
    #[allow(clippy::large_enum_variant)]
    #[derive(Clone, PartialEq, prost::Oneof)]
    pub enum Value {
        /// A float32 scalar (PyTorch's SummaryWriter, tensorboardX, TF1).
        #[prost(float, tag = "2")]
        SimpleValue(f32),
        /// A serialized TF1 histogram summary.
        #[prost(bytes, tag = "3")]
        ObsoleteOldStyleHistogram(Vec<u8>),
        /// A serialized image.
        #[prost(bytes, tag = "4")]
        Image(Vec<u8>),
        /// A serialized `HistogramProto`.
        #[prost(bytes, tag = "5")]
        Histo(Vec<u8>),
        /// A serialized audio clip.
        #[prost(bytes, tag = "6")]
        Audio(Vec<u8>),
        /// A tensor (TF2 summaries of every plugin).
        #[prost(message, tag = "8")]
        Tensor(super::TensorProto),
    }
}

/// Which plugin a tag's values belong to.
#[derive(Clone, PartialEq, prost::Message)]
pub struct SummaryMetadata {
    /// The plugin and its own data.
    #[prost(message, optional, tag = "1")]
    pub plugin_data: Option<PluginData>,
    /// Name to show instead of the tag.
    #[prost(string, tag = "2")]
    pub display_name: String,
    /// Longer description (Markdown).
    #[prost(string, tag = "3")]
    pub summary_description: String,
    /// 1 scalar, 2 tensor, 3 blob sequence (0 unknown).
    #[prost(int32, tag = "4")]
    pub data_class: i32,
}

/// `DataClass` value of a scalar time series.
pub const DATA_CLASS_SCALAR: i32 = 1;

/// `SummaryMetadata.PluginData`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct PluginData {
    /// E.g. `scalars`, `histograms`, `images`, `text`, `hparams`.
    #[prost(string, tag = "1")]
    pub plugin_name: String,
    /// The plugin's own serialized data.
    #[prost(bytes, tag = "2")]
    pub content: Vec<u8>,
}

/// A tensor: its type, shape and values in one of several encodings.
#[derive(Clone, PartialEq, prost::Message)]
pub struct TensorProto {
    /// `DataType` ([`DT_FLOAT`], [`DT_DOUBLE`], [`DT_HALF`], …).
    #[prost(int32, tag = "1")]
    pub dtype: i32,
    /// The shape (no dimensions: a scalar).
    #[prost(message, optional, tag = "2")]
    pub tensor_shape: Option<TensorShapeProto>,
    /// Values as packed little-endian bytes.
    #[prost(bytes, tag = "4")]
    pub tensor_content: Vec<u8>,
    /// Half-precision values, one per int32 (the low 16 bits).
    #[prost(int32, repeated, tag = "13")]
    pub half_val: Vec<i32>,
    /// float32 values.
    #[prost(float, repeated, tag = "5")]
    pub float_val: Vec<f32>,
    /// float64 values.
    #[prost(double, repeated, tag = "6")]
    pub double_val: Vec<f64>,
    /// int32 (and smaller integer) values.
    #[prost(int32, repeated, tag = "7")]
    pub int_val: Vec<i32>,
    /// Strings (text summaries).
    #[prost(bytes = "vec", repeated, tag = "8")]
    pub string_val: Vec<Vec<u8>>,
    /// int64 values.
    #[prost(int64, repeated, tag = "10")]
    pub int64_val: Vec<i64>,
    /// bool values.
    #[prost(bool, repeated, tag = "11")]
    pub bool_val: Vec<bool>,
}

/// `DataType` of a float32 tensor.
pub const DT_FLOAT: i32 = 1;
/// `DataType` of a float64 tensor.
pub const DT_DOUBLE: i32 = 2;
/// `DataType` of a bfloat16 tensor.
pub const DT_BFLOAT16: i32 = 14;
/// `DataType` of a float16 tensor.
pub const DT_HALF: i32 = 19;

/// A tensor's shape.
#[derive(Clone, PartialEq, prost::Message)]
pub struct TensorShapeProto {
    /// Dimensions, outermost first.
    #[prost(message, repeated, tag = "2")]
    pub dim: Vec<TensorShapeDim>,
    /// The rank is unknown.
    #[prost(bool, tag = "3")]
    pub unknown_rank: bool,
}

/// One dimension of a [`TensorShapeProto`].
#[derive(Clone, PartialEq, prost::Message)]
pub struct TensorShapeDim {
    /// Its size (-1: unknown).
    #[prost(int64, tag = "1")]
    pub size: i64,
    /// Optional name.
    #[prost(string, tag = "2")]
    pub name: String,
}

/// A session's status change.
#[derive(Clone, PartialEq, prost::Message)]
pub struct SessionLog {
    /// [`SESSION_START`], stop or checkpoint.
    #[prost(int32, tag = "1")]
    pub status: i32,
    /// Where a checkpoint was written.
    #[prost(string, tag = "2")]
    pub checkpoint_path: String,
    /// Free text.
    #[prost(string, tag = "3")]
    pub msg: String,
}

/// `SessionLog.status` of a (re)start: points from its step on are stale.
pub const SESSION_START: i32 = 1;

/// A log line.
#[derive(Clone, PartialEq, prost::Message)]
pub struct LogMessage {
    /// Level (10 debug … 50 fatal).
    #[prost(int32, tag = "1")]
    pub level: i32,
    /// The text.
    #[prost(string, tag = "2")]
    pub message: String,
}

/// The hparams plugin's data (`plugin_data.content` of its summaries).
#[derive(Clone, PartialEq, prost::Message)]
pub struct HParamsPluginData {
    /// Format version.
    #[prost(int32, tag = "1")]
    pub version: i32,
    /// Which of the plugin's messages this is.
    #[prost(oneof = "hparams_plugin_data::Data", tags = "2, 3, 4")]
    pub data: Option<hparams_plugin_data::Data>,
}

/// The kinds of [`HParamsPluginData`].
pub mod hparams_plugin_data {
    /// One hparams message.
    #[derive(Clone, PartialEq, prost::Oneof)]
    pub enum Data {
        /// A serialized `Experiment` (the hparams' domains).
        #[prost(bytes, tag = "2")]
        Experiment(Vec<u8>),
        /// The values of one session (run).
        #[prost(message, tag = "3")]
        SessionStartInfo(super::SessionStartInfo),
        /// A serialized `SessionEndInfo`.
        #[prost(bytes, tag = "4")]
        SessionEndInfo(Vec<u8>),
    }
}

/// The hyperparameters a session (run) was started with.
#[derive(Clone, PartialEq, prost::Message)]
pub struct SessionStartInfo {
    /// `map<string, google.protobuf.Value>`, read as its wire form (repeated key/value
    /// entries) so the order in the file is kept.
    #[prost(message, repeated, tag = "1")]
    pub hparams: Vec<HParamEntry>,
    /// Group the session belongs to.
    #[prost(string, tag = "4")]
    pub group_name: String,
    /// Unix seconds the session started.
    #[prost(double, tag = "5")]
    pub start_time_secs: f64,
}

/// One entry of [`SessionStartInfo::hparams`].
#[derive(Clone, PartialEq, prost::Message)]
pub struct HParamEntry {
    /// The hyperparameter's name.
    #[prost(string, tag = "1")]
    pub key: String,
    /// Its value.
    #[prost(message, optional, tag = "2")]
    pub value: Option<ProtoValue>,
}

/// `google.protobuf.Value`, the kinds hparams use.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ProtoValue {
    /// The value.
    #[prost(oneof = "proto_value::Kind", tags = "1, 2, 3, 4")]
    pub kind: Option<proto_value::Kind>,
}

/// The kinds of [`ProtoValue`].
pub mod proto_value {
    /// A value's kind.
    #[derive(Clone, PartialEq, prost::Oneof)]
    pub enum Kind {
        /// Null.
        #[prost(int32, tag = "1")]
        NullValue(i32),
        /// A number.
        #[prost(double, tag = "2")]
        NumberValue(f64),
        /// A string.
        #[prost(string, tag = "3")]
        StringValue(String),
        /// A boolean.
        #[prost(bool, tag = "4")]
        BoolValue(bool),
    }
}
