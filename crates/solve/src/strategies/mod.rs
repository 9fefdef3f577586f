pub mod cot;
