//! The operations job. (stub — being written)
