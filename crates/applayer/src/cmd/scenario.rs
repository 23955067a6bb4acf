//! The `applayer scenario` commands: textbook walkthroughs replayed on a live world and drawn
//! from the recorded messages.

use super::world::WorldArgs;
use anyhow::Context;
use std::process::ExitCode;
use world::{scenario, trace};

/// Arguments of `applayer scenario`.
#[derive(clap::Args, Debug)]
pub(crate) struct Args {
    #[command(subcommand)]
    command: ScenarioCommand,
}

#[derive(clap::Subcommand, Debug)]
enum ScenarioCommand {
    /// List the scenarios.
    List,
    /// Run one scenario on a freshly started world and draw its messages.
    Run(RunArgs),
}

#[derive(clap::Args, Debug)]
struct RunArgs {
    /// The scenario's name (see `applayer scenario list`).
    name: String,
    #[command(flatten)]
    world: WorldArgs,
}

pub(crate) async fn run(args: Args) -> anyhow::Result<ExitCode> {
    match args.command {
        ScenarioCommand::List => {
            for info in scenario::SCENARIOS {
                println!("{:<12} {}", info.name, info.about);
            }
            Ok(ExitCode::SUCCESS)
        }
        ScenarioCommand::Run(args) => {
            if !scenario::SCENARIOS
                .iter()
                .any(|info| info.name == args.name)
            {
                anyhow::bail!(
                    "no scenario named `{}` (see `applayer scenario list`)",
                    args.name
                );
            }
            let recording = format!("scenario-{}.jsonl", args.name);
            let (world, running, guard) = super::world::start(&args.world, &recording).await?;
            let outcome = scenario::run(&args.name, &world, &running).await;
            let failures = running.stop().await;
            drop(guard);
            let steps = outcome?;
            for failure in failures {
                eprintln!("applayer: {failure}");
            }
            let path = args.world.data_dir.join(&recording);
            let records = trace::read_records(&path)
                .with_context(|| format!("cannot read {}", path.display()))?;
            println!("scenario {}", args.name);
            for (number, step) in steps.iter().enumerate() {
                println!(
                    "\n{}. {}\n{}\n",
                    number + 1,
                    step.title,
                    step.story.trim_end()
                );
                let end = step.records.end.min(records.len());
                let start = step.records.start.min(end);
                let shown: Vec<trace::WireRecord> = records[start..end]
                    .iter()
                    .filter(|record| step.shows.is_none_or(|shows| shows(record)))
                    .cloned()
                    .collect();
                print!("{}", trace::draw(&trace::arrows(&shown, &world)));
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}
