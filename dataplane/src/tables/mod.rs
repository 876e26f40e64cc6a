// placeholder: being written on its own branch
