pub mod cluster;
pub mod conf;
