//! Places on Earth and the great-circle distance between them.

/// A latitude/longitude in degrees (north and east positive).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct GeoPoint {
    /// −90 to 90.
    pub lat: f64,
    /// −180 to 180.
    pub lon: f64,
}

/// The mean Earth radius (IUGG), in kilometres.
const EARTH_RADIUS_KM: f64 = 6371.0088;

impl GeoPoint {
    /// A point, if the coordinates are in range.
    pub fn new(lat: f64, lon: f64) -> Option<GeoPoint> {
        let valid = (-90.0..=90.0).contains(&lat) && (-180.0..=180.0).contains(&lon);
        valid.then_some(GeoPoint { lat, lon })
    }

    /// The great-circle distance in kilometres (haversine formula, which stays accurate for
    /// short distances where the spherical law of cosines loses digits).
    pub fn distance_km(&self, other: &GeoPoint) -> f64 {
        let (lat1, lat2) = (self.lat.to_radians(), other.lat.to_radians());
        let dlat = lat2 - lat1;
        let dlon = (other.lon - self.lon).to_radians();
        let h = (dlat / 2.0).sin().powi(2) + lat1.cos() * lat2.cos() * (dlon / 2.0).sin().powi(2);
        2.0 * EARTH_RADIUS_KM * h.sqrt().min(1.0).asin()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distances_match_known_values() {
        let new_york = GeoPoint::new(40.7128, -74.0060).unwrap();
        let london = GeoPoint::new(51.5074, -0.1278).unwrap();
        let paris = GeoPoint::new(48.8566, 2.3522).unwrap();
        let near = |km: f64, expected: f64| (km - expected).abs() < expected * 0.01;
        assert!(near(new_york.distance_km(&london), 5570.0));
        assert!(near(london.distance_km(&paris), 344.0));
        assert_eq!(paris.distance_km(&paris), 0.0);
        let antipode = GeoPoint::new(-40.7128, 105.994).unwrap();
        assert!(near(new_york.distance_km(&antipode), 20015.0));
        assert!(GeoPoint::new(91.0, 0.0).is_none());
    }
}
