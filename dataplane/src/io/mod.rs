// placeholder: being written on its own branch
pub mod afxdp;
pub mod steer;
