//! Sans-IO tests of the SFU: str0m clients (full ICE, like browsers) wired to it in memory
//! with a simulated clock.

mod attacks;
mod harness;
mod routing;
mod simulcast;
