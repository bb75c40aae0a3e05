//! Integration tests of the scheduler: real components on a host whose
//! clock the tests move by hand.

mod scheduler;
