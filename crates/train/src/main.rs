use clap::Parser;

fn main() -> anyhow::Result<()> {
    train::cli::run(train::Cli::parse())
}
