//! SVG charts (plotters, SVG backend only): grouped bars and lines.

use std::path::Path;

use anyhow::{Result, anyhow};
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

/// One series: a name and one value per group (or x), `None` where not measured.
#[derive(Debug, Clone)]
pub struct Series {
    /// Legend label.
    pub name: String,
    /// Values.
    pub values: Vec<Option<f64>>,
}

const COLORS: [RGBColor; 6] = [
    RGBColor(0x1f, 0x77, 0xb4),
    RGBColor(0xff, 0x7f, 0x0e),
    RGBColor(0x2c, 0xa0, 0x2c),
    RGBColor(0x7f, 0x7f, 0x7f),
    RGBColor(0xbc, 0xbd, 0x22),
    RGBColor(0x94, 0x67, 0xbd),
];

fn color(i: usize) -> RGBColor {
    COLORS.get(i % COLORS.len()).copied().unwrap_or(BLACK)
}

fn err<E: std::fmt::Display>(e: E) -> anyhow::Error {
    anyhow!("drawing a chart: {e}")
}

/// 1.5M, 250k, 12, 0.5: short axis labels.
#[must_use]
pub fn human(v: f64) -> String {
    let a = v.abs();
    if a >= 1e6 {
        format!("{}M", trim(v / 1e6))
    } else if a >= 1e3 {
        format!("{}k", trim(v / 1e3))
    } else {
        trim(v)
    }
}

fn trim(v: f64) -> String {
    let s = format!("{v:.1}");
    s.strip_suffix(".0").map_or_else(|| s.clone(), str::to_owned)
}

fn y_max(series: &[Series]) -> f64 {
    series.iter().flat_map(|s| s.values.iter().flatten()).copied().fold(0.0, f64::max)
}

/// Grouped bars, log-scale y (the servers differ by orders of magnitude).
///
/// # Errors
/// Writing the file failing.
pub fn bars(
    path: &Path,
    title: &str,
    y_desc: &str,
    groups: &[String],
    series: &[Series],
) -> Result<()> {
    let root = SVGBackend::new(path, (960, 500)).into_drawing_area();
    root.fill(&WHITE).map_err(err)?;
    let top = (y_max(series) * 3.0).max(10.0);
    let bottom = series
        .iter()
        .flat_map(|s| s.values.iter().flatten())
        .copied()
        .filter(|v| *v > 0.0)
        .fold(top, f64::min)
        / 3.0;
    let n = groups.len().max(1) as f64;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 20))
        .margin(12)
        .x_label_area_size(36)
        .y_label_area_size(80)
        .build_cartesian_2d(0f64..n, (bottom.max(1e-3)..top).log_scale())
        .map_err(err)?;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_labels(0)
        .y_label_formatter(&|v| human(*v))
        .y_desc(y_desc)
        .draw()
        .map_err(err)?;
    let k = series.len().max(1) as f64;
    let width = 0.8 / k;
    for (si, s) in series.iter().enumerate() {
        let c = color(si);
        let rects = s.values.iter().enumerate().filter_map(|(gi, v)| {
            let v = (*v)?;
            let x0 = gi as f64 + 0.1 + si as f64 * width;
            Some(Rectangle::new(
                [(x0, bottom.max(1e-3)), (x0 + width * 0.9, v.max(bottom))],
                c.filled(),
            ))
        });
        chart
            .draw_series(rects)
            .map_err(err)?
            .label(s.name.clone())
            .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 10, y + 5)], c.filled()));
    }
    for (gi, g) in groups.iter().enumerate() {
        let (px, py) = chart.backend_coord(&(gi as f64 + 0.5, bottom.max(1e-3)));
        let style = TextStyle::from(("sans-serif", 13)).pos(Pos::new(HPos::Center, VPos::Top));
        root.draw(&Text::new(g.clone(), (px, py + 6), style)).map_err(err)?;
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .border_style(BLACK)
        .background_style(WHITE.mix(0.85))
        .draw()
        .map_err(err)?;
    root.present().map_err(err)?;
    Ok(())
}

/// Lines over a numeric x (log-scale y).
///
/// # Errors
/// Writing the file failing.
pub fn lines(
    path: &Path,
    title: &str,
    x_desc: &str,
    y_desc: &str,
    xs: &[f64],
    series: &[Series],
) -> Result<()> {
    let root = SVGBackend::new(path, (960, 500)).into_drawing_area();
    root.fill(&WHITE).map_err(err)?;
    let top = (y_max(series) * 2.0).max(1.0);
    let bottom = series
        .iter()
        .flat_map(|s| s.values.iter().flatten())
        .copied()
        .filter(|v| *v > 0.0)
        .fold(top, f64::min)
        / 2.0;
    let x_max = xs.iter().copied().fold(1.0, f64::max) * 1.05;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 20))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(80)
        .build_cartesian_2d(0f64..x_max, (bottom.max(1e-3)..top).log_scale())
        .map_err(err)?;
    chart
        .configure_mesh()
        .x_label_formatter(&|v| human(*v))
        .y_label_formatter(&|v| human(*v))
        .x_desc(x_desc)
        .y_desc(y_desc)
        .draw()
        .map_err(err)?;
    for (si, s) in series.iter().enumerate() {
        let c = color(si);
        let points: Vec<(f64, f64)> =
            xs.iter().zip(&s.values).filter_map(|(x, v)| Some((*x, (*v)?))).collect();
        chart
            .draw_series(LineSeries::new(points.clone(), c.stroke_width(2)))
            .map_err(err)?
            .label(s.name.clone())
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 14, y)], c.stroke_width(2)));
        chart
            .draw_series(points.into_iter().map(|p| Circle::new(p, 4, c.filled())))
            .map_err(err)?;
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .border_style(BLACK)
        .background_style(WHITE.mix(0.85))
        .draw()
        .map_err(err)?;
    root.present().map_err(err)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn axis_labels() {
        assert_eq!(human(1_500_000.0), "1.5M");
        assert_eq!(human(250_000.0), "250k");
        assert_eq!(human(12.0), "12");
        assert_eq!(human(0.5), "0.5");
    }

    #[test]
    fn writes_svg_files() {
        let dir = std::env::temp_dir().join(format!("sb-bench-chart-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let series = vec![
            Series { name: "a".into(), values: vec![Some(10.0), None] },
            Series { name: "b".into(), values: vec![Some(1000.0), Some(5.0)] },
        ];
        bars(&dir.join("b.svg"), "t", "y", &["g1".into(), "g2".into()], &series).unwrap();
        lines(&dir.join("l.svg"), "t", "x", "y", &[1.0, 2.0], &series).unwrap();
        let svg = std::fs::read_to_string(dir.join("b.svg")).unwrap();
        assert!(svg.contains("<svg") && svg.contains("g1"));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
