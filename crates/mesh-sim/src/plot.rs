//! SVG charts of simulation results, drawn with `plotters`: cumulative distributions (what
//! share of subscribers had an intent by when) and lines of a measure against another.

use std::path::Path;

use plotters::prelude::*;

/// Colours of the series, in order.
const PALETTE: [RGBColor; 6] = [
    RGBColor(31, 119, 180),
    RGBColor(214, 39, 40),
    RGBColor(44, 160, 44),
    RGBColor(148, 103, 189),
    RGBColor(255, 127, 14),
    RGBColor(23, 190, 207),
];

/// One named series of points.
pub struct Series {
    /// Its name in the legend.
    pub name: String,
    /// Its points, `(x, y)`.
    pub points: Vec<(f64, f64)>,
}

impl Series {
    /// The cumulative distribution of `values`: for each value, the share of values at or
    /// below it, as a step line starting at `(0, 0)`.
    pub fn cdf(name: impl Into<String>, values: &[f64]) -> Self {
        let mut v: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
        v.sort_by(f64::total_cmp);
        let n = v.len().max(1) as f64;
        let mut points = vec![(0.0, 0.0)];
        for (i, x) in v.iter().enumerate() {
            points.push((*x, i as f64 / n));
            points.push((*x, (i + 1) as f64 / n));
        }
        Self {
            name: name.into(),
            points,
        }
    }
}

/// A chart to draw.
pub struct Chart<'a> {
    /// Its title.
    pub title: &'a str,
    /// What the x axis shows.
    pub x_label: &'a str,
    /// What the y axis shows.
    pub y_label: &'a str,
    /// The series.
    pub series: Vec<Series>,
    /// Vertical reference lines, `(x, label)`, e.g. an ideal time.
    pub markers: Vec<(f64, String)>,
    /// Whether to mark each point with a dot (for few points).
    pub dots: bool,
}

impl Chart<'_> {
    /// Draws the chart into an SVG file at `path`.
    pub fn write_svg(&self, path: &Path) -> anyhow::Result<()> {
        let all = || self.series.iter().flat_map(|s| s.points.iter());
        let x_max = all()
            .map(|p| p.0)
            .chain(self.markers.iter().map(|m| m.0))
            .fold(0.0_f64, f64::max);
        let y_max = all().map(|p| p.1).fold(0.0_f64, f64::max);
        let x_range = 0.0..(x_max * 1.05).max(1.0);
        let y_range = 0.0..(y_max * 1.1).max(1e-9);

        let root = SVGBackend::new(path, (860, 480)).into_drawing_area();
        root.fill(&WHITE).map_err(draw_error)?;
        let mut chart = ChartBuilder::on(&root)
            .caption(self.title, ("sans-serif", 20))
            .margin(16)
            .x_label_area_size(44)
            .y_label_area_size(64)
            .build_cartesian_2d(x_range, y_range.clone())
            .map_err(draw_error)?;
        chart
            .configure_mesh()
            .x_desc(self.x_label)
            .y_desc(self.y_label)
            .light_line_style(RGBColor(235, 235, 235))
            .draw()
            .map_err(draw_error)?;
        for (k, s) in self.series.iter().enumerate() {
            let colour = PALETTE[k % PALETTE.len()];
            chart
                .draw_series(LineSeries::new(
                    s.points.iter().copied(),
                    colour.stroke_width(2),
                ))
                .map_err(draw_error)?
                .label(s.name.as_str())
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 18, y)], colour.stroke_width(2))
                });
            if self.dots {
                chart
                    .draw_series(s.points.iter().map(|p| Circle::new(*p, 3, colour.filled())))
                    .map_err(draw_error)?;
            }
        }
        for (x, label) in &self.markers {
            let grey = RGBColor(120, 120, 120);
            chart
                .draw_series(LineSeries::new(
                    [(*x, y_range.start), (*x, y_range.end)],
                    grey.stroke_width(1),
                ))
                .map_err(draw_error)?
                .label(label.as_str())
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], grey));
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::LowerRight)
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .draw()
            .map_err(draw_error)?;
        root.present().map_err(draw_error)?;
        Ok(())
    }
}

fn draw_error(e: impl std::fmt::Display) -> anyhow::Error {
    anyhow::anyhow!("cannot draw the chart: {e}")
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn a_cdf_climbs_from_zero_to_one_in_steps() {
        let s = Series::cdf("x", &[3.0, 1.0, 2.0, f64::NAN]);
        assert_eq!(s.points.first(), Some(&(0.0, 0.0)));
        assert_eq!(s.points.last(), Some(&(3.0, 1.0)));
        assert!(
            s.points
                .windows(2)
                .all(|w| w[0].1 <= w[1].1 && w[0].0 <= w[1].0)
        );
    }

    #[test]
    fn a_chart_is_written_as_svg() {
        let dir = std::env::temp_dir().join(format!("mesh-sim-plot-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("c.svg");
        Chart {
            title: "arrivals",
            x_label: "ms",
            y_label: "share",
            series: vec![Series::cdf("small", &[50.0, 75.0, 100.0])],
            markers: vec![(100.0, "ideal".to_owned())],
            dots: false,
        }
        .write_svg(&path)
        .unwrap();
        let svg = std::fs::read_to_string(&path).unwrap();
        assert!(svg.starts_with("<svg") && svg.contains("arrivals") && svg.contains("ideal"));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
