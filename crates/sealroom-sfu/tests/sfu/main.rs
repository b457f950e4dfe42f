//! Sans-IO tests of the SFU: str0m clients (full ICE, like browsers) wired to it in memory
//! with a simulated clock.

mod attacks;
mod harness;
mod moderation;
mod routing;
mod simulcast;
