//! Plots, as SVG and PNG: latency CDFs of the round trips, and fan-out latency against N.

use std::error::Error;
use std::path::Path;

use plotters::coord::Shift;
use plotters::prelude::*;
use serde_json::Value;

type PlotResult = std::result::Result<(), Box<dyn Error>>;
type SvgPlot<'a> = dyn Fn(DrawingArea<SVGBackend<'_>, Shift>) -> PlotResult + 'a;
type PngPlot<'a> = dyn Fn(DrawingArea<BitMapBackend<'_>, Shift>) -> PlotResult + 'a;

const SIZE: (u32, u32) = (1000, 640);
/// PNG text needs a TrueType font; Debian's DejaVu comes with Chromium's dependencies.
const FONT: &str = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf";

/// One series of a CDF plot other than the round trips'.
pub(crate) struct PlotCdf {
    /// The plot's file name, without extension.
    pub(crate) plot: String,
    /// The series' label.
    pub(crate) name: String,
    /// (latency µs, cumulative fraction).
    pub(crate) points: Vec<(f64, f64)>,
}

/// The other CDF plots: file name, caption and x axis.
const CDF_PLOTS: [(&str, &str, &str); 2] = [
    (
        "loss-rtt-cdf",
        "Round trips through kernel packet loss (0, 1, 5 %; QUIC with Cubic)",
        "round trip (µs, log scale)",
    ),
    (
        "loss-hol-cdf",
        "Room A's small events beside a bulk stream in room B (0, 1, 5 % loss; QUIC with Cubic)",
        "send to receipt (µs, log scale)",
    ),
];

/// Writes every plot the run has data for; a plot that fails is reported, not fatal.
pub(crate) fn write_all(
    out: &Path,
    cdfs: &[(String, Vec<(f64, f64)>)],
    plot_cdfs: &[PlotCdf],
    tables: &[(String, Value)],
) {
    let png_text = register_font();
    for (name, caption, x_desc) in CDF_PLOTS {
        let series: Vec<(String, Vec<(f64, f64)>)> = plot_cdfs
            .iter()
            .filter(|cdf| cdf.plot == name)
            .map(|cdf| (cdf.name.clone(), cdf.points.clone()))
            .collect();
        if series.is_empty() {
            continue;
        }
        let labels = Labels {
            caption,
            x_desc,
            legend: SeriesLabelPosition::MiddleRight,
        };
        write_one(
            out,
            name,
            png_text,
            &|area| cdf_chart(area, &series, labels.clone()),
            &|area| cdf_chart(area, &series, labels.clone()),
        );
    }
    let labels = Labels {
        caption: "Round-trip latency CDF (32-byte payload, one in flight)",
        x_desc: "round trip (µs, log scale)",
        legend: SeriesLabelPosition::LowerRight,
    };
    let fanout: Vec<&Value> = tables
        .iter()
        .filter(|(table, _)| table == "Fan-out to one room")
        .map(|(_, row)| row)
        .collect();
    let jobs: [(&str, &SvgPlot<'_>, &PngPlot<'_>); 2] = [
        (
            "rtt-cdf",
            &|area| cdf_chart(area, cdfs, labels.clone()),
            &|area| cdf_chart(area, cdfs, labels.clone()),
        ),
        (
            "fanout-latency",
            &|area| fanout_chart(area, &fanout),
            &|area| fanout_chart(area, &fanout),
        ),
    ];
    for (name, svg, png) in jobs {
        write_one(out, name, png_text, svg, png);
    }
}

/// A CDF plot's caption and x axis.
#[derive(Clone)]
struct Labels {
    caption: &'static str,
    x_desc: &'static str,
    legend: SeriesLabelPosition,
}

fn write_one(out: &Path, name: &str, png_text: bool, svg: &SvgPlot<'_>, png: &PngPlot<'_>) {
    let svg_path = out.join(format!("{name}.svg"));
    if let Err(err) = svg(SVGBackend::new(&svg_path, SIZE).into_drawing_area()) {
        eprintln!("quicket-bench: plot {name}.svg: {err}");
    }
    if png_text {
        let png_path = out.join(format!("{name}.png"));
        if let Err(err) = png(BitMapBackend::new(&png_path, SIZE).into_drawing_area()) {
            eprintln!("quicket-bench: plot {name}.png: {err}");
        }
    } else {
        eprintln!("quicket-bench: no {FONT}; PNG plots skipped (the SVGs are written)");
    }
}

fn register_font() -> bool {
    let Ok(bytes) = std::fs::read(FONT) else {
        return false;
    };
    // plotters keeps registered fonts for the life of the process.
    let bytes: &'static [u8] = Box::leak(bytes.into_boxed_slice());
    plotters::style::register_font("sans-serif", FontStyle::Normal, bytes).is_ok()
}

fn cdf_chart<DB: DrawingBackend>(
    area: DrawingArea<DB, Shift>,
    cdfs: &[(String, Vec<(f64, f64)>)],
    labels: Labels,
) -> PlotResult
where
    DB::ErrorType: 'static,
{
    area.fill(&WHITE)?;
    let max = cdfs
        .iter()
        .flat_map(|(_, points)| points.iter().find(|(_, f)| *f >= 0.999).map(|(x, _)| *x))
        .fold(10.0f64, f64::max);
    let mut chart = ChartBuilder::on(&area)
        .caption(labels.caption, ("sans-serif", 22))
        .margin(12)
        .x_label_area_size(45)
        .y_label_area_size(55)
        .build_cartesian_2d((5f64..max * 1.2).log_scale(), 0f64..1f64)?;
    chart
        .configure_mesh()
        .x_desc(labels.x_desc)
        .y_desc("fraction")
        .draw()?;
    for (index, (name, points)) in cdfs.iter().enumerate() {
        let color = Palette99::pick(index).to_rgba();
        chart
            .draw_series(LineSeries::new(
                points.iter().copied(),
                color.stroke_width(2),
            ))?
            .label(name.as_str())
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2))
            });
    }
    chart
        .configure_series_labels()
        .position(labels.legend)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .draw()?;
    area.present()?;
    Ok(())
}

fn fanout_chart<DB: DrawingBackend>(area: DrawingArea<DB, Shift>, rows: &[&Value]) -> PlotResult
where
    DB::ErrorType: 'static,
{
    area.fill(&WHITE)?;
    let fixed: Vec<&&Value> = rows.iter().filter(|r| r["mode"] == "fixed rate").collect();
    let mut stacks: Vec<&str> = fixed.iter().filter_map(|r| r["stack"].as_str()).collect();
    stacks.dedup();
    let point = |r: &Value, key: &str| Some((r["N"].as_f64()?, r[key].as_f64()?));
    let max_n = fixed
        .iter()
        .filter_map(|r| r["N"].as_f64())
        .fold(10.0, f64::max);
    let max_ms = fixed
        .iter()
        .filter_map(|r| r["p99 ms"].as_f64())
        .fold(1.0, f64::max);
    let mut chart = ChartBuilder::on(&area)
        .caption(
            "Fan-out latency against N (fixed rate, 20,000 deliveries/s offered)",
            ("sans-serif", 22),
        )
        .margin(12)
        .x_label_area_size(45)
        .y_label_area_size(55)
        .build_cartesian_2d(
            (5f64..max_n * 1.5).log_scale(),
            (0.01f64..max_ms * 1.5).log_scale(),
        )?;
    chart
        .configure_mesh()
        .x_desc("receivers in the room (N, log scale)")
        .y_desc("delivery latency (ms, log scale): p50 solid, p99 dashed")
        .draw()?;
    for (index, stack) in stacks.iter().enumerate() {
        let color = Palette99::pick(index).to_rgba();
        let of = |key: &str| -> Vec<(f64, f64)> {
            fixed
                .iter()
                .filter(|r| r["stack"] == *stack)
                .filter_map(|r| point(r, key))
                .collect()
        };
        chart
            .draw_series(LineSeries::new(of("p50 ms"), color.stroke_width(2)).point_size(4))?
            .label(*stack)
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2))
            });
        chart.draw_series(DashedLineSeries::new(
            of("p99 ms"),
            6,
            4,
            color.stroke_width(1),
        ))?;
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .draw()?;
    area.present()?;
    Ok(())
}
