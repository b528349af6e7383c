use clap::Parser;

fn main() {
    cairn::startup::cap_malloc_arenas();
    cairn::telemetry::init();
    let cli = cairn::cli::Cli::parse();
    if let Err(e) = actix_web::rt::System::new().block_on(cairn::cli::run(cli)) {
        eprintln!("cairn: {e:#}");
        std::process::exit(1);
    }
}
