use inq_quant::graph::*;
fn main() {
    let mut s = 1u64;
    let mut r = |n: usize, sc: f32| -> Vec<f32> { (0..n).map(|_| { s = s.wrapping_mul(6364136223846793005).wrapping_add(1); ((s >> 40) as f32 / 16777216.0 - 0.5) * sc }).collect() };
    let m = FloatModel { name: "lenet".into(), input_shape: [1, 28, 28], normalization: Normalization::parse("mean=0.2860,std=0.3530").unwrap(),
      layers: vec![
        FloatLayer::Conv { name: "c1".into(), in_channels: 1, out_channels: 16, kernel: [3,3], stride: [1,1], pad: [1,1,1,1], weight: r(144, 0.5), bias: r(16, 0.1) },
        FloatLayer::Relu { name: "r1".into() },
        FloatLayer::MaxPool { name: "p1".into(), kernel: [2,2], stride: [2,2] },
        FloatLayer::Conv { name: "c2".into(), in_channels: 16, out_channels: 32, kernel: [3,3], stride: [1,1], pad: [1,1,1,1], weight: r(16*32*9, 0.2), bias: r(32, 0.1) },
        FloatLayer::Relu { name: "r2".into() },
        FloatLayer::MaxPool { name: "p2".into(), kernel: [2,2], stride: [2,2] },
        FloatLayer::Flatten { name: "f".into() },
        FloatLayer::Dense { name: "d1".into(), in_features: 1568, out_features: 128, weight: r(1568*128, 0.05), bias: r(128, 0.1) },
        FloatLayer::Relu { name: "r3".into() },
        FloatLayer::Dense { name: "d2".into(), in_features: 128, out_features: 10, weight: r(1280, 0.1), bias: r(10, 0.1) },
      ]};
    let d = inq_quant::data::load(std::path::Path::new(inq_quant::data::DEFAULT_DATA_DIR), inq_quant::data::Split::Test).unwrap();
    let t = std::time::Instant::now();
    let a = inq_quant::forward::accuracy(&m, &d).unwrap();
    println!("{} images, accuracy {:.4} (random weights), {:.2} s", a.total, a.fraction(), t.elapsed().as_secs_f64());
}
