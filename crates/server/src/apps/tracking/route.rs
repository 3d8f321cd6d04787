//! The town the couriers drive through: a grid of streets in a 1000 × 1000 square (the page
//! draws the same grid), and the route of an order from its shop to its customer, along the
//! streets, derived from the order id so every node and every run agree.

use serde::{Deserialize, Serialize};

/// The side of the town's square, in map units.
pub(crate) const SIZE: i32 = 1000;
/// The distance between two parallel streets; streets run at `GAP / 2 + k * GAP`.
pub(crate) const GAP: i32 = 100;

/// A point of the map, in map units.
pub(crate) type Point = [i32; 2];

/// A street corner: `k`-th street of each direction.
fn corner(kx: u64, ky: u64) -> Point {
    let streets = u64::try_from(SIZE / GAP).unwrap_or(1);
    let at = |k: u64| GAP / 2 + GAP * i32::try_from(k % streets).unwrap_or(0);
    [at(kx), at(ky)]
}

/// FNV-1a: a stable hash of the order id (the standard hasher may change between releases).
fn fnv(text: &str) -> u64 {
    text.bytes()
        .fold(0xcbf2_9ce4_8422_2325, |h, b| (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3))
}

/// The route of `order_id`: shop, two turns, customer; every leg along one street.
pub(crate) fn route_of(order_id: &str) -> Vec<Point> {
    let h = fnv(order_id);
    let digit = |shift: u32| (h >> shift) & 0xff;
    // The shop in the west half, the customer in the east half: routes cross the town.
    let shop = corner(digit(0) % 4, digit(8) % 10);
    let customer = corner(6 + digit(16) % 4, digit(24) % 10);
    let turn_x = corner(4 + digit(32) % 2, 0)[0];
    let mut points = vec![shop, [turn_x, shop[1]], [turn_x, customer[1]], customer];
    points.dedup();
    points
}

/// The length of a route.
pub(crate) fn length(route: &[Point]) -> f64 {
    route.windows(2).map(|w| leg(w[0], w[1])).sum()
}

fn leg(a: Point, b: Point) -> f64 {
    f64::from(a[0] - b[0]).hypot(f64::from(a[1] - b[1]))
}

/// Where a courier is on the map.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub(crate) struct Spot {
    /// Map units.
    pub(crate) x: f64,
    /// Map units.
    pub(crate) y: f64,
    /// 0 at the shop, 1 at the customer.
    pub(crate) progress: f64,
}

/// The point `distance` units along `route` (clamped to its ends).
pub(crate) fn point_at(route: &[Point], distance: f64) -> Spot {
    let total = length(route);
    let mut left = distance.clamp(0.0, total);
    let progress = if total > 0.0 { left / total } else { 1.0 };
    for w in route.windows(2) {
        let l = leg(w[0], w[1]);
        if left <= l && l > 0.0 {
            let t = left / l;
            let x = f64::from(w[0][0]) + t * f64::from(w[1][0] - w[0][0]);
            let y = f64::from(w[0][1]) + t * f64::from(w[1][1] - w[0][1]);
            return Spot { x, y, progress };
        }
        left -= l;
    }
    let end = route.last().copied().unwrap_or([0, 0]);
    Spot { x: f64::from(end[0]), y: f64::from(end[1]), progress }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_follow_the_streets_and_are_stable() {
        for id in ["A100", "order-7", "x", "Z"] {
            let route = route_of(id);
            assert_eq!(route, route_of(id));
            assert!(route.len() >= 2, "{route:?}");
            for w in route.windows(2) {
                assert!(w[0][0] == w[1][0] || w[0][1] == w[1][1], "a leg leaves the street");
            }
            for p in &route {
                assert!(p.iter().all(|c| (c - GAP / 2) % GAP == 0 && (0..SIZE).contains(c)));
            }
        }
        assert_ne!(route_of("A100"), route_of("A101"));
    }

    #[test]
    fn points_along_a_route() {
        let route = vec![[50, 50], [250, 50], [250, 150]];
        assert_eq!(length(&route), 300.0);
        assert_eq!(point_at(&route, 0.0), Spot { x: 50.0, y: 50.0, progress: 0.0 });
        assert_eq!(point_at(&route, 100.0), Spot { x: 150.0, y: 50.0, progress: 1.0 / 3.0 });
        assert_eq!(point_at(&route, 250.0), Spot { x: 250.0, y: 100.0, progress: 250.0 / 300.0 });
        assert_eq!(point_at(&route, 900.0), Spot { x: 250.0, y: 150.0, progress: 1.0 });
    }
}
